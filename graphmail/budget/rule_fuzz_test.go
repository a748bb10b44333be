package budget

import (
	"fmt"
	"testing"
	"time"
)

// span is one message as the holder saw it: it may have arrived at
// Exchange at any instant of [start, end].
type span struct {
	start, end time.Time
	open       bool // still held at the end of the run
}

// checkSpans fails t if some window [x, x+W) could hold more than
// PerWindow arrivals (spans meeting it), or if more than InFlight spans
// overlapped ([start, end) half open: one ending as another starts does
// not overlap it).
func checkSpans(l Limits, spans []span) error {
	l = l.withDefaults()
	for _, a := range spans {
		if l.PerWindow > 0 {
			// The number of spans meeting [x, x+W) is greatest at some
			// span's end x.
			x := a.end
			n := 0
			for _, b := range spans {
				if b.start.Before(x.Add(l.Window)) && !b.end.Before(x) {
					n++
				}
			}
			if n > l.PerWindow {
				return fmt.Errorf("%d messages could arrive in the window from %v (PerWindow %d)", n, x, l.PerWindow)
			}
		}
		n := 0
		for _, b := range spans {
			if !b.start.After(a.start) && a.start.Before(b.end) {
				n++
			}
		}
		if n > l.InFlight {
			return fmt.Errorf("%d messages in flight at %v (InFlight %d)", n, a.start, l.InFlight)
		}
	}
	return nil
}

// FuzzRule plays random starts, ends, deaths of holders and passing time
// against State and checks that no window could hold more than
// PerWindow arrivals and no more than InFlight messages overlapped, with
// live holders renewing every Lease/3 as Budget does. A dead holder's
// request arrived before it died.
func FuzzRule(f *testing.F) {
	f.Add([]byte{2, 1, 0, 0, 0, 3, 4, 0, 0, 2, 0, 3, 9, 0, 0, 0, 4, 1, 0, 3, 200, 0, 0})
	f.Add([]byte{0, 3, 0, 1, 0, 1, 2, 5, 3, 1, 0, 0, 4, 2, 3, 60, 0, 0, 0, 0, 2, 1, 2, 2})
	f.Add([]byte{4, 0, 0, 0, 0, 0, 0, 3, 32, 0, 0, 0, 0, 3, 31, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) < 2 || len(ops) > 1024 { // the check is quadratic in the messages
			return
		}
		l := Limits{PerWindow: int(ops[0] % 6), Window: time.Minute, InFlight: 1 + int(ops[1]%4), Lease: 30 * time.Second}
		ops = ops[2:]
		now := t0
		var (
			s     State
			spans []span
			live  []int // indexes into spans of live holders
			next  = 0
		)
		arg := func() int {
			if len(ops) == 0 {
				return 0
			}
			b := ops[0]
			ops = ops[1:]
			return int(b)
		}
		for len(ops) > 0 {
			switch arg() % 5 {
			case 0, 1: // a message tries to start
				id := fmt.Sprint(next)
				ns, ok, retry := s.Take(now, l, Entry{ID: id, Holder: "h"})
				if ok {
					s = ns
					spans = append(spans, span{start: now, open: true})
					live = append(live, next)
					next++
					continue
				}
				if retry.Before(now) {
					t.Fatalf("retry %v before now %v", retry, now)
				}
				if retry.After(now) {
					if _, ok, _ := ns.Take(retry.Add(-time.Nanosecond), l, Entry{ID: "x"}); ok {
						t.Fatalf("refused at %v until %v, but a start was possible just before", now, retry)
					}
				}
				// Nothing else changing, the wait ends with a start
				// (a lease lapsing only when no renewal came).
				if _, ok, _ := ns.Take(retry, l, Entry{ID: "x"}); !ok {
					t.Fatalf("refused at %v until %v, and again then", now, retry)
				}
				s = ns
			case 2: // a holder ends its message
				if len(live) == 0 {
					continue
				}
				i := arg() % len(live)
				s = s.Finish(now, fmt.Sprint(live[i]))
				spans[live[i]].end, spans[live[i]].open = now, false
				live = append(live[:i], live[i+1:]...)
			case 3: // time passes, live holders renewing
				d := time.Duration(arg()) * l.Window / 32
				for d > 0 {
					step := min(d, l.Lease/3)
					now = now.Add(step)
					d -= step
					for _, k := range live {
						s = s.Renew(now, l, fmt.Sprint(k))
					}
				}
			case 4: // a holder dies: its request arrived by now
				if len(live) == 0 {
					continue
				}
				i := arg() % len(live)
				spans[live[i]].end, spans[live[i]].open = now, false
				live = append(live[:i], live[i+1:]...)
			}
		}
		for i := range spans {
			if spans[i].open {
				spans[i].end = now.Add(time.Hour) // still going
			}
		}
		if err := checkSpans(l, spans); err != nil {
			t.Fatal(err)
		}
	})
}
