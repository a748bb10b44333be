package rfc5322

import (
	"slices"
	"testing"
)

func TestAddressList(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		bad  bool
	}{
		{in: "a@b.c", want: []string{"a@b.c"}},
		{in: "Printer <p@x.local>", want: []string{"p@x.local"}},
		{in: "printer@x <printer@x.local>", want: []string{"printer@x.local"}},
		{in: "printer@x <printer@x.local>, \"Q, R\" <q@r.s>", want: []string{"printer@x.local", "q@r.s"}},
		{in: "a@b.c (x, y), d@e.f", want: []string{"a@b.c", "d@e.f"}},
		{in: "not an address", bad: true},
		{in: "x@y <not valid>", bad: true},
		{in: "", bad: true},
	}
	for _, tt := range tests {
		list, err := AddressList(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("AddressList(%q) = %v, want an error", tt.in, list)
			}
			continue
		}
		if err != nil {
			t.Errorf("AddressList(%q): %v", tt.in, err)
			continue
		}
		var got []string
		for _, a := range list {
			got = append(got, a.Address)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("AddressList(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func FuzzAddressList(f *testing.F) {
	for _, s := range []string{"a@b.c", "printer@x <printer@x.local>", "\"a,b\" <c@d.e>, (x) f@g.h", "<", "\"\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		list, err := AddressList(v)
		if err == nil && len(list) == 0 {
			t.Errorf("AddressList(%q): no error and no address", v)
		}
		for _, e := range SplitAddressList(v) {
			if len(e) > len(v) {
				t.Errorf("element %q longer than the input", e)
			}
		}
	})
}
