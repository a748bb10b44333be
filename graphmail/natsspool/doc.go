// Package natsspool is graphmail's queue on NATS JetStream: several relays
// (graphmail serve with spool.backend: nats) accept into one stream and any
// of them delivers, so a relay can die without losing or stranding mail.
// It implements spool.Queue with the directory spool's contract.
//
// # Layout
//
// For the stream name S (nats.stream, default GRAPHMAIL):
//
//	stream S          work queue; subject S.q.<mailbox>.<id>: one message
//	                  per queued mail, headers carry the envelope and
//	                  metadata, the data the raw message (or nothing, when
//	                  the message is in the object store)
//	stream S_DEAD     the dead letters, subject S.dead.<mailbox>.<id>, kept
//	                  until retried or purged
//	KV S_STATE        per message: attempts, next attempt, last error,
//	                  pending recipients, the claim of the relay delivering
//	                  it, and the submitted record
//	KV S_BUDGET       the per-mailbox budget shared by every relay
//	objects S_BODIES  messages larger than the servers' max payload
//
// <mailbox> is a hash of the mailbox the message is sent through, so that
// an administrator can see or purge one mailbox's queue with the nats tool.
//
// # Guarantees
//
// Enqueue returns once the stream acknowledged the publish: with
// nats.replicas 3 a quorum stored it, so the 250 the relay then sends
// survives the loss of any one NATS server. The publish carries
// Nats-Msg-Id = the message's ID, so a publish retried after a lost
// acknowledgement is stored once. A message too large for one NATS message
// is first put in the object store, then referenced from the stream.
//
// Every relay runs one durable pull consumer, shared. Before an attempt a
// relay claims the message in S_STATE with a compare-and-set (a lease it
// renews with the consumer's in-progress heartbeat), so that two relays
// never deliver one message at once, even when the stream redelivers it to
// a second relay while the first one still holds it. After Graph (or the
// SMTP fallback) accepted the message, the submitted record is written to
// S_STATE, and only then is the stream message acknowledged: a relay that
// dies between the two leaves a message that the next relay finds
// submitted and only acknowledges. The window in which a message can go out
// twice is the directory spool's: between Graph's 202 and that one write.
//
// A temporary failure writes the attempt to S_STATE and naks the message
// with the retry schedule's delay; a permanent one, or a temporary one past
// the maximum age, copies the message to S_DEAD before it leaves S. A relay
// that dies mid-attempt loses its claim when the lease runs out, and the
// stream redelivers the message after the consumer's ack wait.
//
// Delivered messages are not kept (spool.keep_done does not apply); their
// state records expire after the bucket's TTL (14 days).
package natsspool
