package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHealthzURL: the health URL on serve.metrics_listen; a listener on
// every interface is asked on loopback.
func TestHealthzURL(t *testing.T) {
	tests := []struct {
		listen string
		ready  bool
		want   string
	}{
		{"127.0.0.1:9090", false, "http://127.0.0.1:9090/healthz"},
		{"127.0.0.1:9090", true, "http://127.0.0.1:9090/readyz"},
		{":9090", false, "http://127.0.0.1:9090/healthz"},
		{"0.0.0.0:9090", false, "http://127.0.0.1:9090/healthz"},
		{"[::]:9090", false, "http://[::1]:9090/healthz"},
		{"[::1]:9090", true, "http://[::1]:9090/readyz"},
		{"localhost:9100", false, "http://localhost:9100/healthz"},
	}
	for _, tt := range tests {
		got, err := healthzURL(tt.listen, tt.ready)
		if err != nil || got != tt.want {
			t.Errorf("healthzURL(%q, %v) = %q, %v; want %q", tt.listen, tt.ready, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "9090", "127.0.0.1"} {
		if _, err := healthzURL(bad, false); err == nil {
			t.Errorf("healthzURL(%q): no error", bad)
		}
	}
}

// TestHealthzCommand runs graphmail healthz against a fake metrics
// listener: 200 exits 0, another status or no answer 69, no
// serve.metrics_listen 78.
func TestHealthzCommand(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "token: not yet fetched", http.StatusServiceUnavailable)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	listen := strings.TrimPrefix(srv.URL, "http://")

	// a listener that accepts nothing: bound, then closed
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, []byte("log:\n  level: warn\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string
		stderrWant string
	}{
		{"healthy", []string{"--set", "serve.metrics_listen=" + listen}, exitOK, srv.URL + "/healthz: 200 OK", ""},
		{"not ready", []string{"--set", "serve.metrics_listen=" + listen, "--ready"}, exitUnavailable, "", "answered 503 Service Unavailable: token: not yet fetched"},
		{"explicit URL", []string{"--url", srv.URL + "/healthz"}, exitOK, "200 OK", ""},
		{"not found", []string{"--url", srv.URL + "/nothing"}, exitUnavailable, "", "answered 404"},
		{"nothing listens", []string{"--set", "serve.metrics_listen=" + closed}, exitUnavailable, "", "is graphmail serve running"},
		{"no metrics listener", nil, exitConfig, "", "serve.metrics_listen is not set"},
		{"bad metrics listener", []string{"--set", "serve.metrics_listen=9090"}, exitConfig, "", "serve.metrics_listen: not a host:port"},
		{"extra argument", []string{"now"}, exitUsage, "", "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"healthz", "--config", cfg}, tt.args...)
			code := runEnv(context.Background(), args, testEnv(&stdout, &stderr))
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.stdout) {
				t.Errorf("stdout %q, want it to contain %q", stdout.String(), tt.stdout)
			}
			if !strings.Contains(stderr.String(), tt.stderrWant) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), tt.stderrWant)
			}
		})
	}
}
