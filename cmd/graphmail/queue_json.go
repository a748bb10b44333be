package main

import (
	"time"

	"github.com/graphmail/graphmail/graphmail/spool"
)

// queueMessage is one spool message as "queue list --json" and "queue
// show --json" print it. Its field names are public interface (README);
// they are the CLI's, not the spool's file format. Times are RFC 3339;
// zero times and empty strings are omitted.
type queueMessage struct {
	ID          string     `json:"id"`
	State       string     `json:"state"`
	MessageID   string     `json:"message_id"`
	Received    time.Time  `json:"received"`
	Client      string     `json:"client,omitempty"`
	Mailbox     string     `json:"mailbox,omitempty"`
	From        string     `json:"from"`
	Recipients  int        `json:"recipients"`
	Pending     int        `json:"pending,omitempty"` // recipients not yet delivered, of a partial delivery
	Size        int        `json:"size"`
	Attempts    int        `json:"attempts"`
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
	LastAttempt *time.Time `json:"last_attempt,omitempty"`
	HeaderFrom  string     `json:"header_from,omitempty"`
	Subject     string     `json:"subject,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	Submitted   *queueSent `json:"submitted,omitempty"`
	Dead        *queueDead `json:"dead,omitempty"`
	// Header is the message's header section (queue show only).
	Header string `json:"header,omitempty"`
}

// queueSent is when and how a message was handed to Microsoft 365.
type queueSent struct {
	At        time.Time `json:"at"`
	Path      string    `json:"path"`
	RequestID string    `json:"request_id,omitempty"`
	Reply     string    `json:"reply,omitempty"`
}

// queueDead is when and why a message became a dead letter.
type queueDead struct {
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
}

// newQueueMessage is it as JSON; header is its header section or nil.
func newQueueMessage(it spool.Item, header []byte) queueMessage {
	m := queueMessage{
		ID: string(it.ID), State: string(it.State), MessageID: it.MessageID(), Received: it.Meta.Received,
		Client: it.Meta.Client, Mailbox: it.Meta.Mailbox, From: it.Envelope.From, Recipients: len(it.Envelope.To),
		Pending: len(it.Meta.Pending), Size: it.Size, Attempts: it.Meta.Attempts,
		HeaderFrom: it.Header.From, Subject: it.Header.Subject, LastError: it.Meta.LastError, Header: string(header),
	}
	if t := it.Meta.NextAttempt; !t.IsZero() && it.State == spool.StateQueued {
		m.NextAttempt = &t
	}
	if t := it.Meta.LastAttempt; !t.IsZero() {
		m.LastAttempt = &t
	}
	if s := it.Meta.Submitted; s != nil {
		m.Submitted = &queueSent{At: s.At, Path: s.Receipt.Path, RequestID: s.Receipt.RequestID, Reply: s.Receipt.Reply}
	}
	if d := it.Meta.Dead; d != nil {
		m.Dead = &queueDead{At: d.At, Reason: d.Reason}
	}
	return m
}

// printQueueJSON is "queue list --json": the spool directory and its
// queued and dead messages, oldest first.
func printQueueJSON(env *environment, sp spool.Queue) error {
	items, err := sp.List()
	if err != nil {
		return err
	}
	out := struct {
		Spool    string         `json:"spool"`
		Messages []queueMessage `json:"messages"`
	}{Spool: sp.Dir(), Messages: make([]queueMessage, 0, len(items))}
	for _, it := range items {
		out.Messages = append(out.Messages, newQueueMessage(it, nil))
	}
	return env.printJSON(out)
}
