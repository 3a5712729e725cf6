// What KJ's TLS (Cap'n Proto 0.9) leaves to us on both sides of a connection.
#pragma once

#include <string>
#include <string_view>

#include "kj/compat/tls.h"

namespace ledger::net::internal {

// Whether `host` is an IPv4 or IPv6 address literal ("127.0.0.1", "::1").
bool IsAddressLiteral(std::string_view host);

// KJ checks a server's certificate against DNS names only (X509_VERIFY_PARAM_set1_host), so a
// certificate for IP:127.0.0.1 fails with "hostname mismatch" when dialled by that address.
// After this, handshakes of `context` accept a certificate whose IP addresses hold `address`
// (X509_check_ip_asc) where the name check alone failed; the chain is still checked as before.
// `address` must outlive the context.
void AcceptCertificatesHoldingAddress(kj::TlsContext& context, const std::string& address);

// The part of a KJ TLS exception an operator can act on: OpenSSL's reason ("wrong version
// number", "certificate verify failed") or KJ's ("hostname mismatch"), without file names.
std::string TlsFailureReason(const kj::Exception& exception);

}  // namespace ledger::net::internal
