package tokencache

import (
	"encoding/json"
	"testing"
	"time"
)

func TestMerge3(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name               string
		base, ours, theirs string
		want               string
	}{
		{"first write", ``, `{"AccessToken":{"g":1}}`, ``, `{"AccessToken":{"g":1}}`},
		{"other process added a scope", `{"AccessToken":{"g":1}}`, `{"AccessToken":{"g":2}}`, `{"AccessToken":{"g":1,"o":1}}`, `{"AccessToken":{"g":2,"o":1}}`},
		{"other process refreshed, we did not", `{"AccessToken":{"g":1,"o":1}}`, `{"AccessToken":{"g":1,"o":2}}`, `{"AccessToken":{"g":3,"o":1}}`, `{"AccessToken":{"g":3,"o":2}}`},
		{"both refreshed: ours wins", `{"AccessToken":{"g":1}}`, `{"AccessToken":{"g":2}}`, `{"AccessToken":{"g":3}}`, `{"AccessToken":{"g":2}}`},
		{"we deleted", `{"AccessToken":{"g":1,"o":1}}`, `{"AccessToken":{"g":1}}`, `{"AccessToken":{"g":1,"o":1}}`, `{"AccessToken":{"g":1}}`},
		{"they deleted", `{"AccessToken":{"g":1,"o":1}}`, `{"AccessToken":{"g":1,"o":1}}`, `{"AccessToken":{"g":1}}`, `{"AccessToken":{"g":1}}`},
		{"we deleted what they changed", `{"AccessToken":{"o":1}}`, `{}`, `{"AccessToken":{"o":2}}`, `{"AccessToken":{"o":2}}`},
		{"unknown base: union, ours wins", ``, `{"AccessToken":{"g":2}}`, `{"AccessToken":{"g":1,"o":1}}`, `{"AccessToken":{"g":2,"o":1}}`},
		{"file unreadable", `{"AccessToken":{"g":1}}`, `{"AccessToken":{"g":1}}`, `not json`, `{}`},
		{"new section from them", `{}`, `{"AccessToken":{"g":1}}`, `{"Account":{"a":1}}`, `{"AccessToken":{"g":1},"Account":{"a":1}}`},
		{"white space is not a change", `{"AccessToken":{"g":{"x":1}}}`, `{"AccessToken":{"g":{ "x": 1 }}}`, `{"AccessToken":{"g":{"x":2}}}`, `{"AccessToken":{"g":{"x":2}}}`},
		{"non-object values", `{"V":1}`, `{"V":1}`, `{"V":2}`, `{"V":2}`},
		{"HTML characters kept", ``, `{"A":{"k":"a<b&c"}}`, ``, `{"A":{"k":"a<b&c"}}`},
		{"expired access token dropped", ``, `{"AccessToken":{"old":{"expires_on":"1799999999"},"new":{"expires_on":1800000001}}}`, ``, `{"AccessToken":{"new":{"expires_on":1800000001}}}`},
		{"last access token expired", ``, `{"AccessToken":{"old":{"expires_on":"1"}}}`, ``, `{}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := merge3(bytesOrNil(tc.base), []byte(tc.ours), bytesOrNil(tc.theirs), now)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("merge3 =\n  %s\nwant\n  %s", got, tc.want)
			}
		})
	}
}

func TestMerge3BadOurs(t *testing.T) {
	if _, err := merge3(nil, []byte(`[1]`), nil, time.Now()); err == nil {
		t.Error("merge3 accepted a non-object")
	}
}

func bytesOrNil(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

func FuzzMerge3(f *testing.F) {
	f.Add([]byte(`{"AccessToken":{"g":1}}`), []byte(`{"AccessToken":{"g":2}}`), []byte(`{"AccessToken":{"o":{"expires_on":"5"}}}`))
	f.Add([]byte(``), []byte(`{}`), []byte(`{"A":[1]}`))
	f.Fuzz(func(t *testing.T, base, ours, theirs []byte) {
		got, err := merge3(base, ours, theirs, time.Unix(10, 0))
		if err != nil {
			return
		}
		if !json.Valid(got) {
			t.Fatalf("merge3 produced invalid JSON %q", got)
		}
	})
}
