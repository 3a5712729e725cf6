# The ledger's RPC contract, for orchestrator authors.
#
# Connect over TCP (optionally TLS), take the bootstrap capability (a Gateway) and log in with
# the server's token; the Ledger capability you get back is the only way to reach the ledger.
#
# Semantics of every field and result code: docs/data-model.md. Pagination, limits, the change
# feed and examples: docs/rpc-api.md.
#
# Guarantees:
# - A create* call returns only once its batch is durable on disk AND applied. Each call is one
#   atomic, ordered entry of the ledger's log; results are per event, in request order.
# - Retrying a batch after a lost reply is safe: ids are idempotency keys, and a retry answers
#   `exists` (or the precise `existsWithDifferent*` code) for each event already booked.
# - Reads are linearizable: a read observes every write acknowledged before it was sent, and
#   returns only once everything it could have observed is durable (no dirty reads).
#
# Versioning: this schema only grows. Fields, methods, enumerants and structs are added with new
# ordinals and never renumbered, retyped or removed, so a client built against an older version
# keeps working with a newer server and vice versa (Cap'n Proto reads absent fields as their
# defaults). `login` reports the server's `schemaVersion`; compare it with `schemaVersion` below
# to use a method only when the server has it.
@0x825e1259a431d1be;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ledger::net::rpc");

const schemaVersion :UInt32 = 7;  # 2 added createTransfersPacked; 3 transfer statuses, value time;
                                  # 4 idAlreadyFailed, lookupTransfers' failures,
                                  #   valueTimeOutOfRange, imports, queryAccounts/Transfers;
                                  # 5 login's staleReads; 6 keyed checkpoints on the change
                                  #   feed (subscribe's withCheckpoints, checkpoints);
                                  # 7 queryLedgers, verifyLog, ServerInfo's role, ledgers
                                  #   and changeSequenceNext

# An unsigned 128-bit integer: value = hi * 2^64 + lo. Ids and amounts.
struct U128 {
  lo @0 :UInt64;
  hi @1 :UInt64;
}

# ------------------------------------------------------------------------------------------
# Records. Booking timestamps (`timestampNs`) are assigned by the ledger: send 0.

# An asset book: accounts and transfers of one ledger share its asset and minor unit.
struct LedgerInfo {
  id @0 :UInt32;          # not 0
  scale @1 :UInt8;        # decimals for display: 1234 in a scale-2 ledger is 12.34; at most 38
  assetCode @2 :Text;     # 1 to 16 characters of A-Z 0-9 . _ -  ("USD", "BTC")
  timestampNs @3 :UInt64;  # booking timestamp: 0 on create, unless imported
  flags @4 :UInt8;         # ledger flags (ledgerImported)
}

# Ledger flags (bit values of LedgerInfo.flags).
const ledgerImported :UInt8 = 1;  # migrated: timestampNs is given (batch all imported)

# Account flags (bit values of Account.flags).
const accountLinked :UInt16 = 1;                     # this event and the next succeed or fail together
const accountDebitsMustNotExceedCredits :UInt16 = 2; # limit: available = credits - debits (incl. pending debits)
const accountCreditsMustNotExceedDebits :UInt16 = 4; # the mirror limit
const accountHistory :UInt16 = 8;                    # keep balances after each change (getAccountBalances)
const accountClosed :UInt16 = 16;                    # state, set by closing transfers; never on create
const accountImported :UInt16 = 32;                  # migrated: timestampNs is given (batch all imported)

struct Account {
  id @0 :U128;             # client-chosen, never reused; not 0, not 2^128-1
  ledger @1 :UInt32;
  code @2 :UInt16;         # your chart-of-accounts type; not 0
  flags @3 :UInt16;
  userData128 @4 :U128;    # your own references, opaque to the ledger
  userData64 @5 :UInt64;
  userData32 @6 :UInt32;
  # Balances, in minor units. Zero on create; derived only from transfers.
  debitsPending @7 :U128;
  debitsPosted @8 :U128;
  creditsPending @9 :U128;
  creditsPosted @10 :U128;
  timestampNs @11 :UInt64;
}

# Transfer flags (bit values of Transfer.flags).
const transferLinked :UInt16 = 1;           # this event and the next succeed or fail together
const transferPending :UInt16 = 2;          # reserve: moves into the pending balances
const transferPostPending :UInt16 = 4;      # post the reservation pendingId (amount 2^128-1 = all)
const transferVoidPending :UInt16 = 8;      # release the reservation pendingId
const transferBalancingDebit :UInt16 = 16;  # move at most what the debit account's limit allows
const transferBalancingCredit :UInt16 = 32; # move at most what the credit account's limit allows
const transferClosingDebit :UInt16 = 64;    # (pending only) closes the debit account
const transferClosingCredit :UInt16 = 128;  # (pending only) closes the credit account
const transferImported :UInt16 = 256;       # migrated: timestampNs is given (batch all imported)

struct Transfer {
  id @0 :U128;               # client-chosen idempotency key; not 0, not 2^128-1
  debitAccountId @1 :U128;
  creditAccountId @2 :U128;
  amount @3 :U128;           # minor units; not 0
  ledger @4 :UInt32;
  code @5 :UInt16;           # your transaction type; not 0
  flags @6 :UInt16;
  pendingId @7 :U128;        # postPending/voidPending: the reservation; else 0
  reversesId @8 :U128;       # non-zero: this transfer reverses that posted transfer
  timeoutS @9 :UInt32;       # pending only: expires this many seconds after booking; 0 = never
                             # (the deadline must be below 2^63 ns, else overflowsTimeout)
  userData128 @10 :U128;
  userData64 @11 :UInt64;
  userData32 @12 :UInt32;
  valueTimeNs @13 :UInt64;   # when it happened economically (your clock); 0 or below 2^63
  timestampNs @14 :UInt64;
}

# Since schema version 3. Where a reservation stands.
enum PendingStatus {
  none @0;     # not a reservation
  pending @1;  # still held
  posted @2;
  voided @3;
  expired @4;
}

# Since schema version 3. What became of a transfer (getTransferStatuses; docs/data-model.md).
struct TransferStatus {
  id @0 :U128;
  pendingStatus @1 :PendingStatus;
  expiresAtNs @2 :UInt64;     # a reservation's deadline; 0 = none
  postedAmount @3 :U128;      # posted: what its post moved
  releasedAmount @4 :U128;    # resolved: what went back (the rest of a post; all of a void or expiry)
  resolvedBy @5 :U128;        # posted or voided: the post or void transfer; else 0
  reversedAmount @6 :U128;    # reversed so far
  reversalCount @7 :UInt32;
  reversals @8 :List(U128);   # the oldest reversals, at most 64 (the rest: the accounts' history)
}

# ------------------------------------------------------------------------------------------
# Results: one per event, in request order. Codes are listed in precedence order (an event gets
# the first that applies); their meaning is in docs/data-model.md. New codes may be added at
# the end: treat an unknown code as a failure.

enum CreateLedgerStatus {
  ok @0;
  timestampMustBeZero @1;
  reservedField @2;
  idMustNotBeZero @3;
  scaleTooLarge @4;
  assetCodeInvalid @5;
  existsWithDifferentScale @6;
  existsWithDifferentAssetCode @7;
  exists @8;
  reservedFlag @9;
  # Imports (LedgerInfo flag ledgerImported).
  importedEventExpected @10;
  importedEventNotExpected @11;
  importedEventTimestampOutOfRange @12;
  importedEventTimestampMustNotRegress @13;
  existsWithDifferentFlags @14;
}

enum CreateAccountStatus {
  ok @0;
  linkedEventFailed @1;
  linkedEventChainOpen @2;
  timestampMustBeZero @3;
  reservedField @4;
  reservedFlag @5;
  idMustNotBeZero @6;
  idMustNotBeIntMax @7;
  flagsAreMutuallyExclusive @8;
  closedFlagMustNotBeSet @9;
  debitsPendingMustBeZero @10;
  debitsPostedMustBeZero @11;
  creditsPendingMustBeZero @12;
  creditsPostedMustBeZero @13;
  ledgerMustNotBeZero @14;
  codeMustNotBeZero @15;
  existsWithDifferentFlags @16;
  existsWithDifferentUserData128 @17;
  existsWithDifferentUserData64 @18;
  existsWithDifferentUserData32 @19;
  existsWithDifferentLedger @20;
  existsWithDifferentCode @21;
  exists @22;
  ledgerNotFound @23;
  # Imports (Account flag accountImported).
  importedEventExpected @24;
  importedEventNotExpected @25;
  importedEventTimestampOutOfRange @26;
  importedEventTimestampMustNotRegress @27;
}

enum CreateTransferStatus {
  ok @0;
  linkedEventFailed @1;
  linkedEventChainOpen @2;
  timestampMustBeZero @3;
  reservedFlag @4;
  idMustNotBeZero @5;
  idMustNotBeIntMax @6;
  flagsAreMutuallyExclusive @7;
  pendingIdMustBeZero @8;
  pendingIdMustNotBeZero @9;
  pendingIdMustNotBeIntMax @10;
  pendingIdMustBeDifferent @11;
  reversesIdMustNotBeIntMax @12;
  reversesIdMustBeDifferent @13;
  reversalMustBePlain @14;
  timeoutReservedForPendingTransfer @15;
  closingTransferMustBePending @16;
  debitAccountIdMustNotBeZero @17;
  debitAccountIdMustNotBeIntMax @18;
  creditAccountIdMustNotBeZero @19;
  creditAccountIdMustNotBeIntMax @20;
  accountsMustBeDifferent @21;
  ledgerMustNotBeZero @22;
  codeMustNotBeZero @23;
  amountMustNotBeZero @24;
  existsWithDifferentFlags @25;
  existsWithDifferentPendingId @26;
  existsWithDifferentReversesId @27;
  existsWithDifferentTimeout @28;
  existsWithDifferentDebitAccountId @29;
  existsWithDifferentCreditAccountId @30;
  existsWithDifferentAmount @31;
  existsWithDifferentUserData128 @32;
  existsWithDifferentUserData64 @33;
  existsWithDifferentUserData32 @34;
  existsWithDifferentLedger @35;
  existsWithDifferentCode @36;
  existsWithDifferentValueTime @37;
  exists @38;
  debitAccountNotFound @39;
  creditAccountNotFound @40;
  accountsMustHaveTheSameLedger @41;
  transferMustHaveTheSameLedgerAsAccounts @42;
  pendingTransferNotFound @43;
  pendingTransferNotPending @44;
  pendingTransferHasDifferentDebitAccountId @45;
  pendingTransferHasDifferentCreditAccountId @46;
  pendingTransferHasDifferentLedger @47;
  pendingTransferHasDifferentCode @48;
  exceedsPendingTransferAmount @49;
  pendingTransferHasDifferentAmount @50;
  pendingTransferAlreadyPosted @51;
  pendingTransferAlreadyVoided @52;
  pendingTransferExpired @53;
  reversedTransferNotFound @54;
  reversedTransferNotPosted @55;
  reversalMustSwapAccounts @56;
  exceedsReversibleAmount @57;
  debitAccountAlreadyClosed @58;
  creditAccountAlreadyClosed @59;
  overflowsTimeout @60;
  overflowsDebitsPending @61;
  overflowsCreditsPending @62;
  overflowsDebitsPosted @63;
  overflowsCreditsPosted @64;
  overflowsDebits @65;
  overflowsCredits @66;
  exceedsCredits @67;
  exceedsDebits @68;
  # Since schema version 4. A retry of an id whose first attempt failed with a recorded
  # (state-dependent) code, identical to it; listed after `exists` in precedence.
  # lookupTransfers' `failures` tells the code the first attempt got.
  idAlreadyFailed @69;
  # Since schema version 4. valueTimeNs is neither 0 nor below 2^63; listed after
  # amountMustNotBeZero in precedence.
  valueTimeOutOfRange @70;
  # Since schema version 4. Imports (the flag transferImported; docs/data-model.md, "Import").
  importedEventExpected @71;
  importedEventNotExpected @72;
  importedEventTimestampOutOfRange @73;
  importedEventTimestampMustNotRegress @74;
  importedEventTimeoutMustBeZero @75;
}

# Since schema version 4. A transfer id whose first attempt failed with a recorded
# (state-dependent) code (lookupTransfers' `failures`; docs/data-model.md, "Retries of a failed id").
struct FailedTransfer {
  # The event as submitted, except: timestampNs is when it would have been booked, and flags
  # lack transferLinked.
  transfer @0 :Transfer;
  status @1 :CreateTransferStatus;  # the code the first attempt got
}

# timestampNs: the event's booking timestamp when it was booked now (ok) or earlier (exists);
# otherwise 0.
struct LedgerResult {
  status @0 :CreateLedgerStatus;
  timestampNs @1 :UInt64;
}
struct AccountResult {
  status @0 :CreateAccountStatus;
  timestampNs @1 :UInt64;
}
struct TransferResult {
  status @0 :CreateTransferStatus;
  timestampNs @1 :UInt64;
}

# ------------------------------------------------------------------------------------------
# Queries.

# Selects an account's transfers (or balances). Pagination: pass the previous page's
# `nextTimestampNs` as timestampMinNs (or as timestampMaxNs when reversed) with the same filter.
struct AccountFilter {
  accountId @0 :U128;
  timestampMinNs @1 :UInt64;  # inclusive; 0 = from the start
  timestampMaxNs @2 :UInt64;  # inclusive; 0 = to the end
  code @3 :UInt16;            # 0 = any
  debits @4 :Bool = true;     # include transfers that debit the account
  credits @5 :Bool = true;    # include transfers that credit the account
  reversed @6 :Bool;          # newest first
  limit @7 :UInt32;           # at most this many; 0 or above the server's queryResultsMax = that max
  # Since schema version 3 (getAccountTransfers): only transfers whose value time (valueTimeNs,
  # or the booking time when it is 0) is in this range, inclusive; 0 = open. Pages still follow
  # booking time; the booking-time range bounds the scan, this one filters it.
  valueTimeMinNs @8 :UInt64;
  valueTimeMaxNs @9 :UInt64;
}

# Since schema version 4 (queryAccounts, queryTransfers): selects accounts or transfers across
# the whole ledger. Every field that is not zero must match (so zero cannot be asked for); an
# empty filter selects everything. Results in booking order; pagination as AccountFilter's.
# Accounts are indexed by user data, ledger and code; transfers by user data, their ledger and
# code scanned in booking order (docs/rpc-api.md has the costs).
struct QueryFilter {
  ledger @0 :UInt32;
  code @1 :UInt16;
  userData128 @2 :U128;
  userData64 @3 :UInt64;
  userData32 @4 :UInt32;
  timestampMinNs @5 :UInt64;  # inclusive; 0 = from the start
  timestampMaxNs @6 :UInt64;  # inclusive; 0 = to the end
  reversed @7 :Bool;          # newest first
  limit @8 :UInt32;           # at most this many; 0 or above the server's queryResultsMax = that max
}

# An account's balances right after a change (a transfer or an expiry) at timestampNs.
struct AccountBalance {
  debitsPending @0 :U128;
  debitsPosted @1 :U128;
  creditsPending @2 :U128;
  creditsPosted @3 :U128;
  timestampNs @4 :UInt64;
}

# A sum that cannot overflow: value = carries * 2^128 + low.
struct WideSum {
  low @0 :U128;
  carries @1 :UInt64;
}

struct TrialBalance {
  ledger @0 :UInt32;
  accountCount @1 :UInt64;
  debitsPending @2 :WideSum;
  debitsPosted @3 :WideSum;
  creditsPending @4 :WideSum;
  creditsPosted @5 :WideSum;
  balanced @6 :Bool;   # debits equal credits, pending and posted: always true
}

# ------------------------------------------------------------------------------------------
# The change feed: every balance change in log order, for outbox/CDC consumers and
# reconciliation. Each change has a dense sequence number from 0; the server retains the most
# recent `feedRetention` of them (see Limits), across restarts.

enum ChangeKind {
  singlePhase @0;  # a posting: plain, balancing or a reversal
  pending @1;      # a reservation was made
  posted @2;       # a reservation was posted (transfer = the post; pendingId names it)
  voided @3;       # a reservation was voided (transfer = the void)
  expired @4;      # a reservation expired (transfer = the reservation itself)
}

struct Change {
  sequence @0 :UInt64;       # dense, from 0; the feed's cursor
  kind @1 :ChangeKind;
  timestampNs @2 :UInt64;    # when the change was booked
  transfer @3 :Transfer;
  debitAccountId @4 :U128;
  debitBalance @5 :AccountBalance;   # the debit account's balances right after the change
  creditAccountId @6 :U128;
  creditBalance @7 :AccountBalance;
}

# Since schema version 6. A keyed checkpoint of the log's head (docs/wal-format.md,
# "Checkpoints"), as the server signed it with its checkpoint key and appended it to its
# checkpoint file. `line` is what an auditor verifies: the HMAC-SHA-256 at its end covers the
# text before " hmac=" (openssl dgst -sha256 -mac HMAC -macopt hexkey:KEY). op, chainHash and
# timestampNs repeat what it signs; changeSequenceNext is not signed.
struct Checkpoint {
  op @0 :UInt64;
  chainHash @1 :U128;        # the op's entry's chain hash (the line's chain=: hi, then lo, in hex)
  timestampNs @2 :UInt64;    # the op's entry's booking timestamp
  line @3 :Text;             # exactly the checkpoint file's line, without its newline
  changeSequenceNext @4 :UInt64;  # the changes below it are the op's or older (the feed's
                                  # cursor after the op)
}

# Since schema version 7. A check of the server's log on disk (verifyLog): every segment
# header, group header, entry header, body checksum, chain link, op and timestamp, as
# `ledger-wal verify` checks them (docs/operations.md, "Verify a live server's log").
enum LogVerificationState {
  never @0;    # none since the server started
  running @1;
  intact @2;   # everything from firstOp through throughOp checked out
  corrupt @3;  # the log is damaged: message says where
  failed @4;   # the log could not be read (message says why): nothing is known of it
}

struct LogVerification {
  state @0 :LogVerificationState;
  startedAtNs @1 :UInt64;   # wall clock, ns since the Unix epoch; 0 when never
  finishedAtNs @2 :UInt64;  # 0 until it ends
  firstOp @3 :UInt64;       # the log's first entry (above 1 after archived segments)
  throughOp @4 :UInt64;     # the server's durable op when it started: it checks up to there
  checkedOp @5 :UInt64;     # the last op checked so far (its progress while running)
  entries @6 :UInt64;       # entries checked
  bytesRead @7 :UInt64;     # bytes of the log read
  chainHead @8 :U128;       # the chain hash of checkedOp (hi, lo: ledger-wal's chain head)
  message @9 :Text;         # corrupt or failed: what and where (file, offset, op); else empty
}

# Receives a subscription's changes. The server sends the next batch only after this call
# returns, so a slow consumer slows only its own feed. Throwing ends the subscription.
interface ChangeConsumer {
  push @0 (changes :List(Change)) -> ();
  # The server ended the subscription (shutting down, or the consumer fell so far behind that
  # the changes it needs are no longer retained). No push follows.
  end @1 (reason :Text) -> ();
  # Since schema version 6, only to a subscription made withCheckpoints: the next keyed
  # checkpoint, sent only after every change below its changeSequenceNext was pushed (and
  # those pushes returned), one call at a time with the pushes.
  checkpoint @2 (checkpoint :Checkpoint) -> ();
}

# Dropping this capability (or the connection) ends the subscription.
interface Subscription {}

# ------------------------------------------------------------------------------------------

# What the server accepts. Requests beyond these fail with a clear error and change nothing.
struct Limits {
  batchEventsMax @0 :UInt32;     # events per create* call (at least 8190)
  queryIdsMax @1 :UInt32;        # ids per lookup call
  queryResultsMax @2 :UInt32;    # results per query page
  messageBytesMax @3 :UInt64;    # largest request message
  inflightCallsMax @4 :UInt32;   # calls in flight per connection; more fail with `overloaded`
  feedRetention @5 :UInt64;      # changes the feed retains
}

struct ServerInfo {
  schemaVersion @0 :UInt32;
  limits @1 :Limits;
  shardCount @2 :UInt32;
  lastOp @3 :UInt64;          # the log's last op (applied and durable) when login returned
  # Since schema version 7. What the caller's token may do, and on which ledgers (empty: all);
  # a console offers only what the token may do.
  role @4 :Role;
  ledgers @5 :List(UInt32);
  # Since schema version 7. The change feed's next sequence when answered: the changes below it
  # are durable and readable (`changes`, `subscribe`), so a reader of the newest changes starts
  # a little before it.
  changeSequenceNext @6 :UInt64;
}

# A token's role (docs/operations.md, "Tokens and roles"): each may do what those before it may.
enum Role {
  read @0;   # lookups, queries, the change feed, info, verifyLog
  write @1;  # and creates, booked now
  admin @2;  # and imports, booked at their own past timestamps
}

interface Gateway {
  # Compares the token in constant time. A wrong token gets an error (and a delay); nothing
  # else is reachable without the Ledger capability. The Ledger can do what the token's role
  # allows (read, write, admin; possibly limited to some ledgers: docs/operations.md, "Tokens
  # and roles"); other calls fail with "permission denied: ..." and change nothing.
  # staleReads (schema 5): in a replica group, this member answers reads even when it does not
  # lead, from what the group has committed as far as it knows (possibly behind the leader;
  # never anything uncommitted). Writes still go to the leader only.
  login @0 (token :Data, staleReads :Bool) -> (ledger :Ledger, info :ServerInfo);
}

interface Ledger {
  createLedgers @0 (ledgers :List(LedgerInfo)) -> (results :List(LedgerResult));
  createAccounts @1 (accounts :List(Account)) -> (results :List(AccountResult));
  createTransfers @2 (transfers :List(Transfer)) -> (results :List(TransferResult));

  # Lookups return the records found, in request order; missing ids are left out.
  lookupLedgers @3 (ids :List(UInt32)) -> (ledgers :List(LedgerInfo));
  lookupAccounts @4 (ids :List(U128)) -> (accounts :List(Account));
  # failures (since schema version 4): of the ids not found, those whose first attempt failed
  # with a recorded code, with the failed event and that code (a retry of such an id answers
  # idAlreadyFailed), in request order.
  lookupTransfers @5 (ids :List(U128))
      -> (transfers :List(Transfer), failures :List(FailedTransfer));

  # nextTimestampNs: the cursor of the next page, or 0 when this page is the last.
  getAccountTransfers @6 (filter :AccountFilter)
      -> (transfers :List(Transfer), nextTimestampNs :UInt64);
  # For accounts with the history flag; code, debits and credits do not apply.
  getAccountBalances @7 (filter :AccountFilter)
      -> (balances :List(AccountBalance), nextTimestampNs :UInt64);
  trialBalance @8 (ledger :UInt32) -> (trialBalance :TrialBalance);

  # Changes with sequence >= fromSequence, in order, at most `limit` (0 = queryResultsMax).
  # nextSequence is where to continue. A cursor older than the retained window fails with an
  # error naming the oldest sequence still retained.
  changes @9 (fromSequence :UInt64, limit :UInt32)
      -> (changes :List(Change), nextSequence :UInt64, oldestSequence :UInt64);
  # Pushes changes from fromSequence on to `consumer` as they are committed, until the returned
  # Subscription (or the connection) is dropped. withCheckpoints (schema 6): the server's keyed
  # checkpoints too (ChangeConsumer.checkpoint), each after the changes it covers: those still
  # retained (checkpoints) whose changeSequenceNext is at or past fromSequence, then each as it
  # is signed. A server without a checkpoint key sends none.
  subscribe @10 (fromSequence :UInt64, consumer :ChangeConsumer, withCheckpoints :Bool)
      -> (subscription :Subscription);

  info @11 () -> (info :ServerInfo);

  # Since schema version 2. createTransfers for high throughput: the same events with the same
  # semantics and results, each a fixed 152-byte record in the ledger's own layout (the WAL's
  # transfer record: docs/rpc-api.md has the field offsets; little-endian, no padding). The
  # server copies records instead of following 8 pointers per event, and a record is 152 bytes
  # on the wire against 208 in a List(Transfer). A size that is not a whole number of records
  # fails the call; every field is validated like createTransfers' (a result code per event).
  createTransfersPacked @12 (records :Data) -> (results :List(TransferResult));

  # Since schema version 3. What became of each transfer: a reservation's state, what was
  # posted and released and by which transfer, what was reversed and by which. In request
  # order; missing ids are left out.
  getTransferStatuses @13 (ids :List(U128)) -> (statuses :List(TransferStatus));

  # Since schema version 3. An account's posted balances as of a value time: the sums of its
  # postings whose value time is at or before valueTimeNs, whatever their booking time. One
  # pass over the account's history. Fails when there is no such account.
  getPostedAtValueTime @14 (accountId :U128, valueTimeNs :UInt64)
      -> (debitsPosted :U128, creditsPosted :U128, transferCount :UInt64);

  # Since schema version 4. Accounts or transfers across the ledger by QueryFilter; the next
  # page's cursor as in getAccountTransfers (0 when this page is the last).
  queryAccounts @15 (filter :QueryFilter) -> (accounts :List(Account), nextTimestampNs :UInt64);
  queryTransfers @16 (filter :QueryFilter)
      -> (transfers :List(Transfer), nextTimestampNs :UInt64);

  # Since schema version 6. The keyed checkpoints the server retains (the newest 64 signed
  # since it started; the checkpoint file holds them all) whose op is at or after fromOp, in op
  # order; none without a checkpoint key. For consumers that poll `changes`.
  checkpoints @17 (fromOp :UInt64) -> (checkpoints :List(Checkpoint));

  # Since schema version 7. The ledgers whose id is at least fromId, in id order, at most
  # `limit` (0 or above the server's queryResultsMax = that max); a token limited to some
  # ledgers sees only those. nextId: the fromId of the next page, or 0 when this page is the
  # last. The read role suffices.
  queryLedgers @18 (fromId :UInt32, limit :UInt32) -> (ledgers :List(LedgerInfo), nextId :UInt32);

  # Since schema version 7. The server's check of its own log on disk, run on a thread of its
  # own from the log's first op through its durable op when it starts (entries written since
  # are not looked at). start: begin one unless one is running; otherwise, and with start
  # false, report the last one (state never when there has been none). One runs at a time.
  # The read role suffices; a token limited to some ledgers is refused (the log spans them all).
  verifyLog @19 (start :Bool) -> (verification :LogVerification);
}

const transferRecordBytes :UInt32 = 152;  # createTransfersPacked's record size
