// The names of result codes, change kinds and reservation states: snake_case, as in
// docs/data-model.md, the RPC schema's enumerants (tests/net/metrics_test.cc checks they agree),
// metric labels and the tools' output. Values a newer version may add are named "unknown".
#pragma once

#include "engine/types.h"

namespace ledger {

const char* ResultName(CreateLedgerResult result);
const char* ResultName(CreateAccountResult result);
const char* ResultName(CreateTransferResult result);
const char* ChangeKindName(ChangeKind kind);
const char* PendingStatusName(PendingStatus status);  // "none", "pending", ... "expired"

}  // namespace ledger
