package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/graphmail/graphmail/graphmail"
)

// healthzOptions are the flags of graphmail healthz.
type healthzOptions struct {
	url     string
	ready   bool
	timeout time.Duration
}

func newHealthzCommand(env *environment) *cobra.Command {
	var o healthzOptions
	cmd := &cobra.Command{
		Use:   "healthz [--url URL] [--ready]",
		Short: "Check that graphmail serve answers on its metrics listener (/healthz), for container health checks",
		Long: `Ask the running graphmail serve whether it is healthy: GET /healthz (or
/readyz with --ready) on the metrics listener, serve.metrics_listen of the
configuration (an address for all interfaces is asked on loopback), or on
--url. Exit 0 when it answers 200, 69 when it does not answer or answers
anything else, 78 when serve.metrics_listen is not set. Made for the
HEALTHCHECK of an image without a shell or curl.`,
		Example: `  graphmail healthz
  graphmail healthz --ready
  graphmail healthz --url http://127.0.0.1:9090/healthz`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			u := o.url
			if u == "" {
				cfg, err := loadConfig(cmd, env, false)
				if err != nil {
					return err
				}
				if u, err = healthzURL(cfg.Serve.MetricsListen, o.ready); err != nil {
					return err
				}
			}
			return runHealthz(cmd.Context(), env, u, o.timeout)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.url, "url", "", "the URL to ask (default: /healthz on serve.metrics_listen)")
	f.BoolVar(&o.ready, "ready", false, "ask /readyz (listening, token and spool fine) instead of /healthz (the process runs)")
	f.DurationVar(&o.timeout, "timeout", 10*time.Second, "give up after this long")
	return cmd
}

// healthzURL is the URL of /healthz (/readyz with ready) on the metrics
// listener listen (serve.metrics_listen). A listener on every interface
// (":9090", "0.0.0.0:9090", "[::]:9090") is asked on loopback.
func healthzURL(listen string, ready bool) (string, error) {
	if listen == "" {
		return "", &healthzConfigError{}
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", &healthzConfigError{listen: listen, err: err}
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	path := "/healthz"
	if ready {
		path = "/readyz"
	}
	return "http://" + net.JoinHostPort(host, port) + path, nil
}

// runHealthz asks url and succeeds when it answers 200, printing the
// status.
func runHealthz(ctx context.Context, env *environment, url string, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return usagef("--url %q: %v", url, err)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return &unhealthyError{url: url, err: err}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return &unhealthyError{url: url, status: resp.Status, body: strings.TrimSpace(string(body))}
	}
	env.printf("%s: %s\n", url, resp.Status)
	return nil
}

// unhealthyError is a health endpoint that did not answer 200 (exit 69).
type unhealthyError struct {
	url    string
	status string // the HTTP status, "" when nothing answered
	body   string // the start of the answer
	err    error  // why nothing answered
}

func (e *unhealthyError) Error() string {
	if e.status == "" {
		return fmt.Sprintf("healthz: %s: %v", e.url, e.err)
	}
	if e.body != "" {
		return fmt.Sprintf("healthz: %s answered %s: %s", e.url, e.status, e.body)
	}
	return fmt.Sprintf("healthz: %s answered %s", e.url, e.status)
}

func (e *unhealthyError) Unwrap() error          { return e.err }
func (e *unhealthyError) Class() graphmail.Class { return graphmail.Refused }

// Hint says what to look at.
func (e *unhealthyError) Hint() string {
	if e.status == "" {
		return "is graphmail serve running with this metrics listener (serve.metrics_listen)?"
	}
	return "see graphmail serve's log for the cause"
}

// healthzConfigError is a missing or unusable serve.metrics_listen
// (exit 78).
type healthzConfigError struct {
	listen string
	err    error
}

func (e *healthzConfigError) Error() string {
	if e.listen == "" {
		return "healthz: serve.metrics_listen is not set, so graphmail serve offers no /healthz"
	}
	return fmt.Sprintf("healthz: serve.metrics_listen %q: %v", e.listen, e.err)
}

func (e *healthzConfigError) Unwrap() error          { return e.err }
func (e *healthzConfigError) Class() graphmail.Class { return graphmail.Misconfigured }

// Hint says how to give serve a health endpoint.
func (e *healthzConfigError) Hint() string {
	return "set serve.metrics_listen (e.g. 127.0.0.1:9090) for graphmail serve, or pass --url"
}
