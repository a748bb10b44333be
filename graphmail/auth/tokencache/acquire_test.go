package tokencache

import (
	"fmt"
	"testing"
	"time"
)

func TestHasFreshToken(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	doc := func(target string, exp int64) []byte {
		return fmt.Appendf(nil, `{"AccessToken":{"k":{"target":%q,"expires_on":"%d"}}}`, target, exp)
	}
	const graph = "https://graph.microsoft.com/.default"
	tests := []struct {
		name  string
		plain []byte
		want  bool
	}{
		{"valid for an hour", doc(graph, now.Add(time.Hour).Unix()), true},
		{"expires within five minutes", doc(graph, now.Add(4*time.Minute).Unix()), false},
		{"other scope", doc("https://outlook.office365.com/.default", now.Add(time.Hour).Unix()), false},
		{"scope among several, other case", doc("openid HTTPS://GRAPH.MICROSOFT.COM/.default", now.Add(time.Hour).Unix()), true},
		{"expires_on as a number", []byte(fmt.Sprintf(`{"AccessToken":{"k":{"target":%q,"expires_on":%d}}}`, graph, now.Add(time.Hour).Unix())), true},
		{"garbage", []byte("not json"), false},
		{"empty cache", []byte(`{}`), false},
	}
	for _, tt := range tests {
		if got := hasFreshToken(tt.plain, graph, now.Add(freshFor)); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
