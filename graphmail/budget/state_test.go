package budget

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// at returns t0 + d.
func at(d time.Duration) time.Time { return t0.Add(d) }

// ended is an entry that started and ended at the given offsets from t0.
func ended(id string, start, end time.Duration) Entry {
	return Entry{ID: id, Holder: "h", Start: at(start), End: at(end)}
}

// flying is an entry in flight since start with its lease ending at expires.
func flying(id string, start, expires time.Duration) Entry {
	return Entry{ID: id, Holder: "h", Start: at(start), Expires: at(expires)}
}

func ids(s State) []string {
	var out []string
	for _, e := range s.Entries {
		out = append(out, e.ID)
	}
	return out
}

func TestTake(t *testing.T) {
	l := Limits{PerWindow: 3, Window: time.Minute, InFlight: 2, Lease: 30 * time.Second}
	tests := []struct {
		name    string
		limits  Limits
		entries []Entry
		ok      bool
		retry   time.Duration // from t0, when !ok
		kept    []string      // the IDs left (before the new one)
	}{
		{name: "empty", limits: l, ok: true},
		{name: "one below the rate", limits: l, entries: []Entry{ended("a", -50*time.Second, -49*time.Second), ended("b", -10*time.Second, -9*time.Second)}, ok: true, kept: []string{"a", "b"}},
		{
			name:    "exactly PerWindow counted",
			limits:  l,
			entries: []Entry{ended("a", -55*time.Second, -50*time.Second), ended("b", -45*time.Second, -40*time.Second), ended("c", -30*time.Second, -20*time.Second)},
			retry:   10 * time.Second, // a's end + Window
			kept:    []string{"a", "b", "c"},
		},
		{
			name:    "an end exactly Window ago no longer counts",
			limits:  l,
			entries: []Entry{ended("a", -70*time.Second, -time.Minute), ended("b", -45*time.Second, -40*time.Second), ended("c", -30*time.Second, -20*time.Second)},
			ok:      true,
			kept:    []string{"b", "c"},
		},
		{
			name:    "a message that started long ago counts by its end",
			limits:  l,
			entries: []Entry{ended("a", -10*time.Minute, -time.Second), ended("b", -45*time.Second, -40*time.Second), ended("c", -30*time.Second, -20*time.Second)},
			retry:   20 * time.Second, // b's end + Window; a counts until 59s
			kept:    []string{"a", "b", "c"},
		},
		{
			name:    "in flight counts toward the rate until it ends",
			limits:  Limits{PerWindow: 2, InFlight: 4},
			entries: []Entry{flying("a", -5*time.Minute, 20*time.Second), ended("b", -30*time.Second, -20*time.Second)},
			retry:   40 * time.Second, // b's end + Window comes before a's lease end + Window
			kept:    []string{"a", "b"},
		},
		{
			name:    "InFlight full",
			limits:  Limits{InFlight: 2},
			entries: []Entry{flying("a", -time.Second, 29*time.Second), flying("b", -2*time.Second, 10*time.Second)},
			retry:   10 * time.Second, // b's lease end
			kept:    []string{"a", "b"},
		},
		{
			name:    "a lapsed lease is not in flight",
			limits:  Limits{InFlight: 1},
			entries: []Entry{flying("a", -time.Minute, -time.Second)},
			ok:      true,
		},
		{
			name:    "a lapsed lease counts toward the rate from its lease end",
			limits:  Limits{PerWindow: 1, InFlight: 1},
			entries: []Entry{flying("a", -time.Minute, -10*time.Second)},
			retry:   50 * time.Second,
			kept:    []string{"a"},
		},
		{
			name:    "a lease that lapsed a Window ago is pruned",
			limits:  Limits{PerWindow: 1, InFlight: 1},
			entries: []Entry{flying("a", -3*time.Minute, -time.Minute)},
			ok:      true,
		},
		{
			name:    "both limits: the later relief",
			limits:  Limits{PerWindow: 2, InFlight: 1},
			entries: []Entry{ended("a", -59*time.Second, -58*time.Second), flying("b", -time.Second, 25*time.Second)},
			retry:   25 * time.Second, // rate relief at 2s, the flight only at 25s
			kept:    []string{"a", "b"},
		},
		{
			name:    "no rate limit: ended entries are pruned",
			limits:  Limits{InFlight: 1},
			entries: []Entry{ended("a", -2*time.Second, -time.Second)},
			ok:      true,
		},
		{
			name:    "clock went back: entries in the future still count",
			limits:  Limits{PerWindow: 1},
			entries: []Entry{ended("a", time.Minute, 70*time.Second)},
			retry:   130 * time.Second,
			kept:    []string{"a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := State{Entries: tt.entries}
			before := ids(s)
			got, ok, retry := s.Take(t0, tt.limits, Entry{ID: "new", Holder: "me"})
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			want := tt.kept
			if ok {
				want = append(want, "new")
				e := got.Entries[len(got.Entries)-1]
				lease := tt.limits.withDefaults().Lease
				if !e.Start.Equal(t0) || !e.End.IsZero() || !e.Expires.Equal(t0.Add(lease)) || e.Holder != "me" {
					t.Errorf("new entry = %+v, want Start t0, lease t0+%v", e, lease)
				}
				if !retry.Equal(t0) {
					t.Errorf("retry = %v, want now", retry)
				}
			} else if !retry.Equal(at(tt.retry)) {
				t.Errorf("retry = t0%+v, want t0%+v", retry.Sub(t0), tt.retry)
			}
			if g := ids(got); !equal(g, want) {
				t.Errorf("entries = %v, want %v", g, want)
			}
			if a := ids(s); !equal(a, before) {
				t.Errorf("Take changed its receiver: %v, was %v", a, before)
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFinish(t *testing.T) {
	tests := []struct {
		name    string
		entry   Entry
		now     time.Duration
		wantEnd time.Duration
	}{
		{name: "in flight", entry: flying("a", -time.Second, 29*time.Second), wantEnd: 0},
		{name: "lease lapsed: ends now", entry: flying("a", -time.Minute, -20*time.Second), wantEnd: 0},
		{name: "already ended: unchanged", entry: ended("a", -time.Minute, -30*time.Second), wantEnd: -30 * time.Second},
		{name: "clock went back: ends at its start", entry: flying("a", time.Minute, 90*time.Second), wantEnd: time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := State{Entries: []Entry{tt.entry, ended("b", -time.Second, 0)}}
			got := s.Finish(at(tt.now), "a")
			e := got.Entries[0]
			if !e.End.Equal(at(tt.wantEnd)) || !e.Expires.IsZero() {
				t.Errorf("entry = end t0%+v expires %v, want end t0%+v, no expiry", e.End.Sub(t0), e.Expires, tt.wantEnd)
			}
			if again := got.Finish(at(tt.now+time.Minute), "a"); !again.Entries[0].End.Equal(e.End) {
				t.Errorf("a second Finish moved End to %v", again.Entries[0].End)
			}
			if !s.Entries[0].End.Equal(tt.entry.End) {
				t.Error("Finish changed its receiver")
			}
		})
	}
	s := State{Entries: []Entry{ended("b", -time.Second, 0)}}
	if got := s.Finish(t0, "missing"); len(got.Entries) != 1 || !got.Entries[0].End.Equal(t0) {
		t.Errorf("Finish of a missing ID changed the state: %+v", got)
	}
}

func TestRenew(t *testing.T) {
	l := Limits{Lease: 30 * time.Second}
	tests := []struct {
		name        string
		entry       Entry
		wantExpires time.Time
		wantEnd     time.Time
	}{
		{name: "in flight", entry: flying("a", -10*time.Second, 20*time.Second), wantExpires: at(30 * time.Second)},
		{name: "lapsed: counts again", entry: flying("a", -time.Minute, -time.Second), wantExpires: at(30 * time.Second)},
		{name: "clock went back: the lease is not shortened", entry: flying("a", 0, time.Minute), wantExpires: at(time.Minute)},
		{name: "ended: unchanged", entry: ended("a", -time.Minute, -time.Second), wantEnd: at(-time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := State{Entries: []Entry{tt.entry}}
			got := s.Renew(t0, l, "a").Entries[0]
			if !got.Expires.Equal(tt.wantExpires) || !got.End.Equal(tt.wantEnd) {
				t.Errorf("got expires %v end %v, want expires %v end %v", got.Expires, got.End, tt.wantExpires, tt.wantEnd)
			}
			if !s.Entries[0].Expires.Equal(tt.entry.Expires) {
				t.Error("Renew changed its receiver")
			}
		})
	}
	if got := (State{}).Renew(t0, l, "a"); len(got.Entries) != 0 {
		t.Errorf("Renew of a missing ID added %+v", got.Entries)
	}
}
