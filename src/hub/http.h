// A small libcurl wrapper for the Hub client: one request, headers of the final response, body
// streamed to a sink (downloads) or kept in memory (JSON, error pages). Internal to src/hub/.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace fastvlm::hub::internal {

using Headers = std::map<std::string, std::string>;  // names lowercased; last value wins

struct HttpRequest {
  std::string method = "GET";  // GET or HEAD
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  bool follow_redirects = false;
  double connect_timeout_s = 10;
  double read_timeout_s = 10;  // abort when no byte arrived for this long
  // Called when the headers of the final response are complete; false aborts the transfer.
  std::function<bool(long status, const Headers&)> on_headers;
  // Body of a 2xx response; false aborts (e.g. a write error). Unset: kept in HttpResponse::body.
  std::function<bool(const char* data, size_t n)> on_body;
};

struct HttpResponse {
  int curl_code = 0;    // CURLcode; 0 = the transfer completed
  std::string error;    // curl's message when curl_code != 0
  bool aborted = false;  // a callback returned false
  long status = 0;
  Headers headers;
  std::string body;  // non-2xx bodies, or 2xx bodies without on_body (capped at 16 MiB)
  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

HttpResponse Perform(const HttpRequest& req);

// The host could not be resolved / reached at all (DNS, refused, TLS, proxy).
bool IsUnreachable(int curl_code);
// Worth retrying (with a Range request when bytes already arrived): dropped or stalled transfers.
bool IsTransient(int curl_code);

// "scheme://host[:port]" of a URL (for deciding whether a redirect leaves the Hub).
std::string Origin(const std::string& url);
// Percent-encoding as Python's urllib.parse.quote(s, safe=safe).
std::string Quote(const std::string& s, const std::string& safe);

}  // namespace fastvlm::hub::internal
