package budget

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// LocalHolder names this process for Entry.Holder: its host name and pid,
// and where the system tells them (Linux) the process's start time, which
// tells a reused pid apart, and its pid namespace, which tells containers
// that share a host name apart: "host pid 1234 start 5678 ns 4026531836".
// The File store ends the in-flight entries of holders of its own host
// and namespace whose process no longer exists.
func LocalHolder() string {
	return localProcess().String()
}

// process identifies a process by host, pid namespace, pid and start time.
type process struct {
	host  string
	pid   int
	start string // "" where unknown
	ns    string // "" where unknown
}

// localProcess returns this process.
func localProcess() process {
	host, _ := os.Hostname()
	host = strings.Join(strings.Fields(host), "-")
	if host == "" {
		host = "localhost"
	}
	pid := os.Getpid()
	start, _ := processStart(pid)
	return process{host: host, pid: pid, start: start, ns: pidNamespace()}
}

// String returns p in LocalHolder's form.
func (p process) String() string {
	s := fmt.Sprintf("%s pid %d", p.host, p.pid)
	if p.start != "" {
		s += " start " + p.start
	}
	if p.ns != "" {
		s += " ns " + p.ns
	}
	return s
}

// parseHolder parses a holder in LocalHolder's form.
func parseHolder(h string) (process, bool) {
	f := strings.Fields(h)
	if len(f) < 3 || len(f)%2 == 0 || f[1] != "pid" {
		return process{}, false
	}
	pid, err := strconv.Atoi(f[2])
	if err != nil || pid <= 0 {
		return process{}, false
	}
	p := process{host: f[0], pid: pid}
	for i := 3; i+1 < len(f); i += 2 {
		switch f[i] {
		case "start":
			p.start = f[i+1]
		case "ns":
			p.ns = f[i+1]
		default:
			return process{}, false
		}
	}
	return p, true
}

// holderGone reports whether holder names a process that self can see
// (same host and pid namespace) and that no longer exists, or exists
// with another start time (its pid was reused). Any doubt counts as
// alive: the lease then decides.
func holderGone(holder string, self process) bool {
	p, ok := parseHolder(holder)
	if !ok || p.host != self.host || p.ns != self.ns {
		return false
	}
	if p.pid == self.pid {
		return self.start != "" && p.start != "" && p.start != self.start
	}
	start, alive := processStart(p.pid)
	if !alive {
		return true
	}
	return p.start != "" && start != "" && start != p.start
}
