// Package budget keeps Exchange Online's per-mailbox limits (messages per
// sliding window, requests in flight) across processes and hosts, over a
// shared Store.
//
// Exchange Online counts the messages of a mailbox (30 a minute) and the
// requests in flight for it (4 per app and mailbox) wherever they come
// from: every graphmail send, sendmail and serve process on a host, and
// every relay of a cluster, draws from one budget. A Budget keeps a State
// per mailbox in a Store that every participant shares: File, a flock'd
// JSON file next to the token cache, for the processes of one host;
// Memory for tests and examples; a key-value store of a cluster for
// several hosts (any type that implements Store).
//
// # The rule
//
// Each message that starts adds an Entry with its Start; while in flight
// it has a lease (Expires) that its holder renews every Lease/3; when it
// ends, End is set. Exchange counts a message when its request arrives,
// somewhere between Start and End, so State.Take counts
//
//   - every entry in flight (End zero and Expires after now), and
//   - every entry whose End — or, for an in-flight entry whose lease
//     lapsed (a dead holder), its Expires — is after now − Window,
//
// and lets one more message start only when that count is below
// PerWindow and the number in flight is below InFlight. Entries that
// ended at or before now − Window are pruned.
//
// Why this holds as Exchange measures it: take any window [x, x+W) in
// which N+1 requests arrive, N = PerWindow. Let k be the last of those
// messages to start. It started before its arrival, so Start_k < x+W.
// Every other one started before k (Takes are serialised by the Store)
// and has End ≥ its arrival ≥ x > Start_k − W, so at Start_k each of
// them was in flight or had End after Start_k − W: N entries were
// counted, and k was refused — a contradiction. The same argument with
// intervals instead of windows bounds the requests in flight. A holder
// that dies is counted until its lease lapses and then for a Window after
// that; its request cannot arrive after it died, which was before the
// lease lapsed.
//
// # Clocks
//
// The rule compares times stamped by different participants, so it holds
// only as well as their clocks agree: a host whose clock is d behind the
// others lets its messages count for d less. Run NTP (skew of a few
// milliseconds against Exchange's minute is immaterial); no hidden margin
// is added. A clock that goes back on one host only makes the count more
// conservative (entries that started "in the future" still count).
//
// # Leases and renewal
//
// Budget.Acquire renews the lease of each message it holds every Lease/3
// until the message is released. A holder that stops renewing (killed,
// frozen, cut off from the Store) stops counting as in flight when its
// lease lapses, and the File store also ends the entries of local
// processes that no longer exist as soon as it sees them.
package budget
