#include "net/internal/tls.h"

#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace ledger::net::internal {

namespace {

// KJ keeps its SSL_CTX in a private member. An explicit instantiation may name a private
// member (C++20 [temp.spec]: access is not checked there), so this reads it by name, not by
// layout; a KJ that renames it fails to compile here.
void* NativeContext(kj::TlsContext& context);

template <void* kj::TlsContext::*Member>
struct ContextAccess {
  friend void* NativeContext(kj::TlsContext& context) { return context.*Member; }
};
template struct ContextAccess<&kj::TlsContext::ctx>;

int VerifyHoldingAddress(int verified, X509_STORE_CTX* store) {
  if (verified == 1) return 1;
  if (X509_STORE_CTX_get_error(store) != X509_V_ERR_HOSTNAME_MISMATCH) return 0;
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  const auto* address = static_cast<const std::string*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  X509* certificate = X509_STORE_CTX_get0_cert(store);
  if (address == nullptr || certificate == nullptr ||
      X509_check_ip_asc(certificate, address->c_str(), 0) != 1) {
    return 0;
  }
  X509_STORE_CTX_set_error(store, X509_V_OK);
  return 1;
}

}  // namespace

bool IsAddressLiteral(std::string_view host) {
  const std::string text(host);
  unsigned char bytes[sizeof(in6_addr)];
  return inet_pton(AF_INET, text.c_str(), bytes) == 1 ||
         inet_pton(AF_INET6, text.c_str(), bytes) == 1;
}

void AcceptCertificatesHoldingAddress(kj::TlsContext& context, const std::string& address) {
  auto* ssl_context = static_cast<SSL_CTX*>(NativeContext(context));
  SSL_CTX_set_app_data(ssl_context, const_cast<std::string*>(&address));
  SSL_CTX_set_verify(ssl_context, SSL_CTX_get_verify_mode(ssl_context), VerifyHoldingAddress);
}

std::string TlsFailureReason(const kj::Exception& exception) {
  const std::string description = exception.getDescription().cStr();
  for (const std::string_view marker : {"reason = ", "message = "}) {
    const size_t at = description.rfind(marker);
    if (at == std::string::npos) continue;
    std::string reason = description.substr(at + marker.size());
    // OpenSSL's "error:0A00010B:SSL routines::wrong version number": keep the last part.
    const size_t colon = reason.rfind(':');
    if (reason.rfind("error:", 0) == 0 && colon != std::string::npos) reason.erase(0, colon + 1);
    return reason;
  }
  return description;
}

}  // namespace ledger::net::internal
