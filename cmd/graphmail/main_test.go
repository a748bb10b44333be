package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"graphmail": leakCheckedMain,
		// the binary installed as /usr/sbin/sendmail: cron, mailx and PHP
		// call it by that name with sendmail's options
		"sendmail": func() {
			os.Args = append([]string{os.Args[0], "sendmail"}, os.Args[1:]...)
			leakCheckedMain()
		},
	})
}

// ambientSecret is a known client secret every script runs with (as
// AZURE_CLIENT_SECRET, which graphmail reads as a fallback credential), so
// that the leak check below has a secret to look for in every script.
const ambientSecret = "Amb1ent~Secret.Value_for-leak-check"

// jwtRE matches a JWT (an access token issued by the sandbox or anyone).
var jwtRE = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+`)

// credentialRE matches the other shapes a token travels in: an
// Authorization header value and an XOAUTH2 SASL string, in clear or
// base64 ("dXNlcj" starts the base64 of the SASL string's leading "user=").
var credentialRE = regexp.MustCompile(`(?i)bearer\s+[A-Za-z0-9._~+/-]{16,}|\x01auth=|dXNlcj[A-Za-z0-9+/]{16,}`)

// leakCheckedMain runs graphmail as the scripts' "graphmail" command and
// fails the command (exit 99, "LEAK:" on stderr) when its standard output
// or standard error contains a known secret or any access token. Every CLI
// script therefore doubles as a secret-leak test.
func leakCheckedMain() {
	var stdout, stderr bytes.Buffer
	code := run(os.Args[1:], os.Stdin, &stdout, &stderr)
	var secrets []string
	for _, name := range []string{"AZURE_CLIENT_SECRET", "GRAPHMAIL_CLIENT_SECRET", "GRAPHMAIL_CLIENT_CERTIFICATE_PASSWORD", "SANDBOX_SECRET", "SANDBOX_SECRET2", "SANDBOX_SECRET3", "SANDBOX_SECRET4"} {
		if v := os.Getenv(name); len(v) >= 8 {
			secrets = append(secrets, v)
		}
	}
	raw := slices.Contains(os.Args[1:], "--raw") // graphmail token --raw prints a token on request
	var leaks []string
	for stream, b := range map[string][]byte{"stdout": stdout.Bytes(), "stderr": stderr.Bytes()} {
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				leaks = append(leaks, stream+" contains a client secret")
			}
		}
		if !(raw && stream == "stdout") && jwtRE.Match(b) {
			leaks = append(leaks, stream+" contains an access token")
		}
		if credentialRE.Match(b) {
			leaks = append(leaks, stream+" contains an Authorization header or a SASL string")
		}
	}
	_, _ = os.Stdout.Write(stdout.Bytes())
	_, _ = os.Stderr.Write(stderr.Bytes())
	if len(leaks) > 0 {
		sort.Strings(leaks)
		fmt.Fprintf(os.Stderr, "LEAK: %s\n", strings.Join(leaks, "; "))
		os.Exit(99)
	}
	os.Exit(code)
}

// TestScripts runs the CLI end to end: each testdata/script/*.txtar is a
// shell-like script run against the real binary (and, where it says
// "sandbox start", against a fake tenant this test process serves).
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("XDG_CONFIG_HOME", filepath.Join(env.WorkDir, ".config"))
			env.Setenv("XDG_CACHE_HOME", filepath.Join(env.WorkDir, ".cache"))
			env.Setenv("AZURE_CLIENT_SECRET", ambientSecret)
			return nil
		},
		Cmds:      scriptCmds(),
		Condition: clientCondition,
	})
}

func scriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	cmds := map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"sandbox": cmdSandbox,
		"exits":   cmdExits,
		"lasteml": cmdLastEML,
	}
	for k, v := range daemonCmds {
		cmds[k] = v
	}
	return cmds
}

// cmdExits runs graphmail and checks its exit code:
//
//	exits 64 graphmail send --subject x
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: %v", err)
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("exits: %v", err)
	}
	if got != want {
		ts.Fatalf("exit code %d, want %d", got, want)
	}
}

// sandboxes are the fake tenants of running scripts, by work directory.
// Scripts run in parallel, so the map is guarded.
var (
	sandboxesMu sync.Mutex
	sandboxes   = map[string]*graphmailtest.Server{}
)

// cmdSandbox controls a fake tenant served by the test process:
//
//	sandbox start            start it; writes $WORK/sandbox.yaml and delivers to $WORK/mail
//	sandbox fail ENDPOINT STATUS CODE [TIMES] [RETRY-AFTER]
//	sandbox clear            drop queued failures
//	sandbox smtpauth on|off  turn SMTP AUTH on or off (off: 535 5.7.139)
//	sandbox smtpfail CODE X.Y.Z STAGE  next SMTP reply at STAGE (auth, mail, rcpt, data)
//	sandbox roles ROLE,ROLE  set the app's roles
//	sandbox restdisabled     the sender mailbox is not enabled for REST
//	sandbox messages N       exactly N messages were delivered
//	sandbox await N          wait until N messages were delivered
//	sandbox tokens RESOURCE N  exactly N tokens were issued for RESOURCE (graph, outlook)
//	sandbox secret|revoke|cert|config …  credentials and rotation (see cmdSandboxCredential)
func cmdSandbox(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) == 0 {
		ts.Fatalf("usage: sandbox start|fail|roles|restdisabled|messages|tokens")
	}
	work := ts.Getenv("WORK")
	if args[0] == "start" {
		srv, err := graphmailtest.NewServer(graphmailtest.Options{Dir: filepath.Join(work, "mail")})
		ts.Check(err)
		sandboxesMu.Lock()
		sandboxes[work] = srv
		sandboxesMu.Unlock()
		ts.Defer(func() {
			srv.Close()
			sandboxesMu.Lock()
			delete(sandboxes, work)
			sandboxesMu.Unlock()
		})
		app := srv.App()
		ts.Check(writeSandboxFiles(srv, filepath.Join(work, "sandbox.yaml"), nil))
		ts.Setenv("SANDBOX_SECRET", app.Secret)
		return
	}
	sandboxesMu.Lock()
	srv := sandboxes[work]
	sandboxesMu.Unlock()
	if srv == nil {
		ts.Fatalf("sandbox: run 'sandbox start' first")
	}
	switch args[0] {
	case "fail":
		if len(args) < 4 {
			ts.Fatalf("usage: sandbox fail ENDPOINT STATUS CODE [TIMES] [RETRY-AFTER]")
		}
		f := graphmailtest.Failure{Endpoint: args[1], Code: args[3], Times: 1}
		f.Status, _ = strconv.Atoi(args[2])
		if len(args) > 4 {
			f.Times, _ = strconv.Atoi(args[4])
		}
		if len(args) > 5 {
			f.RetryAfter = args[5]
		}
		srv.Fail(f)
	case "smtpauth":
		srv.SMTP().DisableAuth(args[1] == "off")
	case "smtpfail":
		if len(args) != 4 {
			ts.Fatalf("usage: sandbox smtpfail CODE X.Y.Z STAGE")
		}
		code, _ := strconv.Atoi(args[1])
		var enh [3]int
		_, err := fmt.Sscanf(args[2], "%d.%d.%d", &enh[0], &enh[1], &enh[2])
		ts.Check(err)
		srv.SMTP().FailNext(code, enh, "injected by the test", args[3])
	case "clear":
		srv.ClearFailures()
	case "roles":
		srv.SetRoles(srv.App().ClientID, strings.Split(args[1], ","))
	case "restdisabled":
		srv.SetMailboxRESTDisabled(srv.Mailboxes()[0])
	case "messages":
		want, _ := strconv.Atoi(args[1])
		if got := len(srv.Messages()); (got == want) == neg {
			ts.Fatalf("sandbox delivered %d message(s), want %d", got, want)
		}
	case "await":
		// sandbox await N: wait until N messages were delivered (hangBound
		// only turns a hang into a failure)
		want, _ := strconv.Atoi(args[1])
		what := func() string {
			return fmt.Sprintf("sandbox delivered %d message(s), want %d", len(srv.Messages()), want)
		}
		poll(ts, what, func(time.Time) bool { return len(srv.Messages()) >= want })
		if got := len(srv.Messages()); got != want {
			ts.Fatalf("sandbox delivered %d message(s), want %d", got, want)
		}
	case "rcpts":
		// sandbox rcpts: print the recipients of the last delivered message
		msgs := srv.Messages()
		if len(msgs) == 0 {
			ts.Fatalf("sandbox delivered nothing")
		}
		for _, r := range msgs[len(msgs)-1].Recipients {
			fmt.Fprintln(ts.Stdout(), r)
		}
	case "tokens":
		resource := map[string]string{"graph": "https://graph.microsoft.com", "outlook": "https://outlook.office365.com"}[args[1]]
		want, _ := strconv.Atoi(args[2])
		if got := srv.TokenRequests(resource); got != want {
			ts.Fatalf("sandbox issued %d %s token(s), want %d", got, args[1], want)
		}
	default:
		if !cmdSandboxCredential(ts, srv, args) {
			ts.Fatalf("sandbox: unknown subcommand %q", args[0])
		}
	}
}

// cmdLastEML prints the newest .eml file under DIR.
func cmdLastEML(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: lasteml DIR")
	}
	dir := ts.MkAbs(args[0])
	var files []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".eml") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) == 0 {
		ts.Fatalf("no .eml under %s", dir)
	}
	sort.Slice(files, func(i, j int) bool {
		return modTime(files[i]).Before(modTime(files[j])) || modTime(files[i]).Equal(modTime(files[j])) && files[i] < files[j]
	})
	b, err := os.ReadFile(files[len(files)-1])
	ts.Check(err)
	_, _ = ts.Stdout().Write(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")))
}

func modTime(p string) time.Time {
	st, err := os.Stat(p)
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}

// clientCondition answers the scripts' [client:PROGRAM] condition: whether
// a third-party program a script drives (mailx, php) is installed. Under
// GRAPHMAIL_REQUIRE_REAL_CLIENTS=1 (CI, which installs them) a missing
// program is an error, so the script fails instead of being skipped.
func clientCondition(cond string) (bool, error) {
	prog, ok := strings.CutPrefix(cond, "client:")
	if !ok {
		return false, fmt.Errorf("unknown condition %q", cond)
	}
	if _, err := exec.LookPath(prog); err != nil {
		if os.Getenv("GRAPHMAIL_REQUIRE_REAL_CLIENTS") == "1" {
			return false, fmt.Errorf("%s is not installed, and GRAPHMAIL_REQUIRE_REAL_CLIENTS=1 requires it (.ci/clients/install.sh installs it)", prog)
		}
		return false, nil
	}
	return true, nil
}
