// Package natstest starts real NATS servers (github.com/nats-io/nats-server
// embedded as a library) with JetStream on loopback for tests: one server,
// or a cluster whose nodes can be stopped and started again with their
// data, as in a rolling restart or a node failure.
package natstest

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Options configure a server or a cluster.
type Options struct {
	// MaxPayload is the servers' max_payload; 0 means NATS's 1 MB.
	MaxPayload int32
	// ReadyTimeout bounds the wait for a server to accept clients and for
	// a cluster's JetStream to elect its meta leader; 0 means 2 minutes
	// (generous: a loaded machine).
	ReadyTimeout time.Duration
	// Binary, when set, runs each node as a process of its own from this
	// nats-server executable (see BuildServer) instead of inside the test
	// process: a node then neither shares the test's race detector nor
	// its scheduler, as in production.
	Binary string
}

// BuildServer builds the nats-server executable of the module's
// nats-server version into a directory of the test, once per test binary,
// and returns its path (for Options.Binary).
func BuildServer(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "natstest-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "nats-server")
		out, err := exec.Command("go", "build", "-o", buildPath, "github.com/nats-io/nats-server/v2").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("building nats-server: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Cluster is a set of NATS servers with JetStream, routed to each other
// when there are several.
type Cluster struct {
	t     testing.TB
	o     Options
	dir   string
	name  string
	mu    sync.Mutex
	nodes []*node
}

type node struct {
	name              string
	port, clusterPort int
	srv               *server.Server
	proc              *exec.Cmd
}

// Start starts one server (Cluster of one). It is shut down when the test
// ends.
func Start(t testing.TB, o Options) *Cluster { return StartCluster(t, 1, o) }

// StartCluster starts n servers with JetStream on loopback, routed to each
// other (n > 1), and waits until JetStream is ready on every one. They are
// shut down when the test ends.
func StartCluster(t testing.TB, n int, o Options) *Cluster {
	t.Helper()
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 2 * time.Minute
	}
	c := &Cluster{t: t, o: o, dir: t.TempDir(), name: "graphmail-test"}
	for i := range n {
		c.nodes = append(c.nodes, &node{name: fmt.Sprintf("n%d", i+1), port: freePort(t), clusterPort: freePort(t)})
	}
	t.Cleanup(c.Shutdown)
	for i := range c.nodes {
		c.start(i)
	}
	for i := range c.nodes {
		c.waitReady(i)
	}
	return c
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (c *Cluster) start(i int) {
	c.t.Helper()
	nd := c.nodes[i]
	if c.o.Binary != "" {
		c.startProcess(i)
		return
	}
	opts := &server.Options{
		ServerName: nd.name,
		Host:       "127.0.0.1",
		Port:       nd.port,
		JetStream:  true,
		StoreDir:   filepath.Join(c.dir, nd.name),
		NoLog:      true,
		NoSigs:     true,
		MaxPayload: c.o.MaxPayload,
	}
	if len(c.nodes) > 1 {
		opts.Cluster = server.ClusterOpts{Name: c.name, Host: "127.0.0.1", Port: nd.clusterPort}
		for j, other := range c.nodes {
			if j != i {
				opts.Routes = append(opts.Routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", other.clusterPort)})
			}
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		c.t.Fatalf("nats server %s: %v", nd.name, err)
	}
	if os.Getenv("NATSTEST_LOG") != "" { // the servers' own log, to debug a test
		opts.NoLog = false
		opts.Debug = true
		srv.ConfigureLogger()
	}
	srv.Start()
	if !srv.ReadyForConnections(c.o.ReadyTimeout) {
		srv.Shutdown()
		c.t.Fatalf("nats server %s did not accept clients within %s", nd.name, c.o.ReadyTimeout)
	}
	c.mu.Lock()
	nd.srv = srv
	c.mu.Unlock()
}

// startProcess starts node i as a nats-server process.
func (c *Cluster) startProcess(i int) {
	c.t.Helper()
	nd := c.nodes[i]
	args := []string{"-a", "127.0.0.1", "-p", fmt.Sprint(nd.port), "-js", "-sd", filepath.Join(c.dir, nd.name), "-n", nd.name}
	if len(c.nodes) > 1 {
		var routes []string
		for j, other := range c.nodes {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", other.clusterPort))
			}
		}
		args = append(args, "--cluster_name", c.name, "--cluster", fmt.Sprintf("nats://127.0.0.1:%d", nd.clusterPort), "--routes", strings.Join(routes, ","))
	}
	if c.o.MaxPayload > 0 {
		// max_payload has no flag: a config file carries it.
		conf := filepath.Join(c.dir, nd.name+".conf")
		if err := os.WriteFile(conf, []byte(fmt.Sprintf("max_payload: %d\n", c.o.MaxPayload)), 0o600); err != nil {
			c.t.Fatal(err)
		}
		args = append(args, "-c", conf)
	}
	cmd := exec.Command(c.o.Binary, args...)
	cmd.SysProcAttr = dieWithTest()
	if os.Getenv("NATSTEST_LOG") != "" {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("nats server %s: %v", nd.name, err)
	}
	c.mu.Lock()
	nd.proc = cmd
	c.mu.Unlock()
}

// waitReady waits until node i answers JetStream requests (a cluster has
// elected its meta leader).
func (c *Cluster) waitReady(i int) {
	c.t.Helper()
	nd := c.nodes[i]
	deadline := time.Now().Add(c.o.ReadyTimeout)
	// A process may take a moment to listen: connecting is retried too.
	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", nd.port), nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		c.t.Fatalf("connecting to %s: %v", nd.name, err)
	}
	defer nc.Close()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		// $JS.API.INFO answers without an error once the node knows the
		// meta leader: a condition polled, not a time assumed.
		m, err := nc.Request("$JS.API.INFO", nil, 5*time.Second)
		if err == nil && !strings.Contains(string(m.Data), `"error"`) {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("JetStream on %s not ready within %s: %v", nd.name, c.o.ReadyTimeout, err)
		}
		<-tick.C
	}
}

// URL is the comma-separated client URLs of every node, as nats.url takes
// them.
func (c *Cluster) URL() string {
	var urls []string
	for _, nd := range c.nodes {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", nd.port))
	}
	return strings.Join(urls, ",")
}

// Stop shuts node i down (its data stays on disk): a process gets
// SIGTERM, as from a service manager, and is waited for.
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	srv, proc := c.nodes[i].srv, c.nodes[i].proc
	c.nodes[i].srv, c.nodes[i].proc = nil, nil
	c.mu.Unlock()
	if proc != nil {
		_ = proc.Process.Signal(syscall.SIGTERM)
		_ = proc.Wait()
	}
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Restart starts node i again, with the data it had, and waits until its
// JetStream answers.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.start(i)
	c.waitReady(i)
}

// Server returns node i's server (nil while stopped).
func (c *Cluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].srv
}

// Shutdown stops every node.
func (c *Cluster) Shutdown() {
	for i := range c.nodes {
		c.Stop(i)
	}
}
