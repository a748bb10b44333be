package graphmailtest

import (
	"testing"
	"time"
)

func TestMostInWindow(t *testing.T) {
	at := func(ms ...int) []time.Time {
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		var out []time.Time
		for _, m := range ms {
			out = append(out, base.Add(time.Duration(m)*time.Millisecond))
		}
		return out
	}
	tests := []struct {
		name   string
		times  []time.Time
		window time.Duration
		want   int
	}{
		{name: "none", window: time.Second, want: 0},
		{name: "one", times: at(5), window: time.Second, want: 1},
		{name: "all within", times: at(0, 100, 999), window: time.Second, want: 3},
		{name: "the window is half open", times: at(0, 1000), window: time.Second, want: 1},
		{name: "unsorted, densest later", times: at(3000, 0, 2500, 2900, 1500), window: time.Second, want: 3},
		{name: "same instant", times: at(7, 7, 7), window: time.Millisecond, want: 3},
		{name: "no window", times: at(1, 2), window: 0, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mostInWindow(tt.times, tt.window); got != tt.want {
				t.Errorf("mostInWindow = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestMaxPerWindow: sendMail and draft sends are counted per mailbox as
// they arrive; other requests and those turned away are not.
func TestMaxPerWindow(t *testing.T) {
	c := newAPI(t, "Mail.Send", "Mail.ReadWrite")
	body := []byte(`{"message":{"toRecipients":[{"emailAddress":{"address":"a@example.com"}}]}}`)
	for range 3 {
		if r := c.do("POST", "/v1.0/users/"+DefaultMailbox+"/sendMail", body, nil); r.status != 202 {
			t.Fatalf("sendMail: %d %s", r.status, r.code)
		}
	}
	id := c.draft() // not a message sent
	if r := c.do("POST", "/v1.0/users/"+DefaultMailbox+"/messages/"+id+"/send", nil, nil); r.status != 202 {
		t.Fatalf("send: %d %s", r.status, r.code)
	}
	if got := c.srv.MaxPerWindow(DefaultMailbox, time.Hour); got != 4 {
		t.Errorf("MaxPerWindow(hour) = %d, want 4", got)
	}
	if got := c.srv.MaxPerWindow(DefaultMailbox, time.Nanosecond); got != 1 {
		t.Errorf("MaxPerWindow(1ns) = %d, want 1 (the requests came one after another)", got)
	}
	if got := c.srv.MaxPerWindow("other@example.com", time.Hour); got != 0 {
		t.Errorf("another mailbox: %d, want 0", got)
	}
	c.srv.Reset()
	if got := c.srv.MaxPerWindow(DefaultMailbox, time.Hour); got != 0 {
		t.Errorf("after Reset: %d, want 0", got)
	}
}
