//go:build unix

package spool

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The cross-user test runs the daemon and the submitters as real, distinct
// users: the test (root) re-executes its own binary as them, with
// SysProcAttr.Credential (setuid in a goroutine would not be per thread).
const (
	envXUserMode = "GRAPHMAIL_SPOOL_XUSER"
	envXUserDir  = "GRAPHMAIL_SPOOL_XUSER_DIR"
	envXUserArg  = "GRAPHMAIL_SPOOL_XUSER_ARG"

	daemonUID = 64000 // the spool's owner, a user with no name
	nobodyUID = 65534 // an unprivileged submitter
)

// TestMaildropCrossUser: root and an unprivileged user submit through
// maildrop/; the daemon, another user, takes and delivers both, with the
// submitters' uids; the unprivileged user can neither read nor change the
// queue or root's submission; files that user plants are quarantined once
// each; and what root does to the daemon's spool (a queue run) leaves
// files the daemon can use.
func TestMaildropCrossUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs the daemon and a submitter as two other users")
	}
	if testing.Short() {
		t.Skip("starts several processes")
	}
	base, err := os.MkdirTemp("", "spool-xuser-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := copyTestBinary(t, base)
	dir := filepath.Join(base, "spool")
	if err := os.Mkdir(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, daemonUID, daemonUID); err != nil {
		t.Fatal(err)
	}
	// Root opens the daemon's spool first: what it makes is the daemon's.
	s := mustOpen(t, dir, Options{})
	checkOwner(t, filepath.Join(dir, "queue"), daemonUID, daemonUID)
	checkOwner(t, filepath.Join(dir, "maildrop"), daemonUID, daemonUID)
	// A new spool is private: a stranger cannot submit.
	if out := runChild(t, bin, base, nobodyUID, "drop", dir, "private"); out[0] != "DENIED" {
		t.Errorf("an unprivileged user dropped into a private spool: %q", out)
	}
	// The administrator opens it up, as graphmail.tmpfiles does.
	if err := os.Chmod(filepath.Join(dir, "maildrop"), publicMaildrop); err != nil {
		t.Fatal(err)
	}
	checkMode(t, filepath.Join(dir, "maildrop"), publicMaildrop)

	// Root submits.
	fromRoot, err := Drop(dir, Envelope{From: "root", To: []string{"ops@example.com"}}, []byte("Subject: from root\r\n\r\nbody\r\n"), DropOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rootDrop := filepath.Join(dir, "maildrop", string(fromRoot)+".drop")
	checkOwner(t, rootDrop, 0, daemonUID)
	checkMode(t, rootDrop, 0o640)

	// An unprivileged user submits.
	out := runChild(t, bin, base, nobodyUID, "drop", dir, "from nobody")
	fromNobody := ID(strings.TrimPrefix(out[0], "ID "))
	checkOwner(t, filepath.Join(dir, "maildrop", string(fromNobody)+".drop"), nobodyUID, daemonUID)

	// That user can neither read nor change the queue, nor root's submission.
	for _, line := range runChild(t, bin, base, nobodyUID, "probe", dir, string(fromRoot)) {
		if !strings.HasSuffix(line, " denied") {
			t.Errorf("unprivileged user: %s", line)
		}
	}
	// …and plants an unreadable submission, a link and a FIFO.
	planted := runChild(t, bin, base, nobodyUID, "plant", dir, "")
	if len(planted) != 3 {
		t.Fatalf("planted %q", planted)
	}

	// The daemon takes and delivers both submissions, and one more root
	// makes while it runs; it quarantines the three planted files once
	// each.
	delivered, warns := runDaemon(t, bin, base, dir, 3, 3, func() ID {
		id, err := Drop(dir, Envelope{To: []string{"ops@example.com"}}, []byte("Subject: while running\r\n\r\n"), DropOptions{})
		if err != nil {
			t.Error(err)
		}
		return id
	})
	if len(delivered) != 3 || !delivered[fromRoot] || !delivered[fromNobody] {
		t.Errorf("the daemon delivered %v, want %s, %s and the one dropped while it ran", delivered, fromRoot, fromNobody)
	}
	if len(warns) != 3 {
		t.Errorf("%d WARN lines, want 3 (one per planted file):\n%s", len(warns), strings.Join(warns, "\n"))
	}
	for _, name := range planted {
		found := false
		for _, w := range warns {
			found = found || strings.Contains(w, strings.TrimPrefix(name, "PLANTED "))
		}
		if !found {
			t.Errorf("no WARN line for %s", name)
		}
	}
	for id, want := range map[ID]string{fromRoot: "maildrop uid=0 user=root", fromNobody: "maildrop uid=65534"} {
		it, _, err := s.Show(id)
		if err != nil || it.State != StateDone || !strings.HasPrefix(it.Meta.Client, want) {
			t.Errorf("%s: %s, client %q, %v; want done, from %q", id, it.State, it.Meta.Client, err, want)
		}
		checkOwner(t, filepath.Join(dir, "done", string(id)+".msg"), daemonUID, daemonUID)
	}
	if names := dirNames(t, filepath.Join(dir, "maildrop")); len(names) != 0 {
		t.Errorf("maildrop/ still holds %q", names)
	}
	if n := len(dirNames(t, filepath.Join(dir, "corrupt"))); n != 3 {
		t.Errorf("%d files in corrupt/, want 3", n)
	}

	// Root runs the queue of the daemon's spool (graphmail queue run as
	// root) while Graph is down: the records it writes are the daemon's.
	fromRoot2, err := Drop(dir, Envelope{To: []string{"ops@example.com"}}, []byte("Subject: root again\r\n\r\n"), DropOptions{})
	if err != nil {
		t.Fatal(err)
	}
	down := &fakeDeliverer{fail: func(Delivery) error { return tempErr{temp: true} }}
	if st, err := s.RunOnce(context.Background(), down, RunOptions{Backoff: func(int) time.Duration { return 0 }}); err != nil || st.PickedUp != 1 || st.Deferred != 1 {
		t.Fatalf("root's RunOnce = %+v, %v", st, err)
	}
	for _, name := range []string{"queue/" + string(fromRoot2) + ".msg", "queue/" + string(fromRoot2) + ".meta", "lock", "daemon.lock"} {
		checkOwner(t, filepath.Join(dir, name), daemonUID, daemonUID)
	}
	// The unprivileged user submits again; the daemon's own queue run
	// delivers both.
	fromNobody2 := ID(strings.TrimPrefix(runChild(t, bin, base, nobodyUID, "drop", dir, "again")[0], "ID "))
	var st RunStats
	if err := json.Unmarshal([]byte(strings.TrimPrefix(runChild(t, bin, base, daemonUID, "once", dir, "")[0], "STATS ")), &st); err != nil {
		t.Fatal(err)
	}
	if want := (RunStats{PickedUp: 1, Submitted: 2}); st != want {
		t.Errorf("the daemon's RunOnce = %+v, want %+v", st, want)
	}
	for _, id := range []ID{fromRoot2, fromNobody2} {
		if it, _, err := s.Show(id); err != nil || it.State != StateDone {
			t.Errorf("%s: %+v, %v", id, it, err)
		}
	}
}

// TestCrossUserChild is the helper process of TestMaildropCrossUser; it
// runs as the user the test chose.
func TestCrossUserChild(t *testing.T) {
	mode, dir, arg := os.Getenv(envXUserMode), os.Getenv(envXUserDir), os.Getenv(envXUserArg)
	if mode == "" {
		t.Skip("helper process for TestMaildropCrossUser")
	}
	switch mode {
	case "drop":
		id, err := Drop(dir, Envelope{From: "app", To: []string{"ops@example.com"}}, []byte("Subject: "+arg+"\r\n\r\nbody\r\n"), DropOptions{})
		if errors.Is(err, fs.ErrPermission) {
			fmt.Println("DENIED")
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println("ID", id)
	case "probe":
		probe(dir, ID(arg))
	case "plant":
		plant(t, dir)
	case "serve":
		serve(t, dir, arg)
	case "once":
		s := mustOpen(t, dir, Options{})
		st, err := s.RunOnce(context.Background(), &fakeDeliverer{}, RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(st)
		fmt.Println("STATS", string(data))
	default:
		t.Fatalf("unknown mode %q", mode)
	}
}

// probe tries, as an unprivileged user, what must be refused, and prints
// "CHECK what denied" or "CHECK what ALLOWED …" for each.
func probe(dir string, rootID ID) {
	md := filepath.Join(dir, "maildrop")
	rootDrop := filepath.Join(md, string(rootID)+".drop")
	check := func(what string, err error) {
		if errors.Is(err, fs.ErrPermission) {
			fmt.Println("CHECK", what, "denied")
			return
		}
		fmt.Println("CHECK", what, "ALLOWED:", err)
	}
	_, err := os.ReadDir(md)
	check("list maildrop/", err)
	_, err = os.ReadFile(rootDrop)
	check("read root's submission", err)
	_, err = os.OpenFile(rootDrop, os.O_WRONLY, 0)
	check("write root's submission", err)
	check("remove root's submission", os.Remove(rootDrop))
	check("rename root's submission", os.Rename(rootDrop, filepath.Join(md, string(newID(time.Now()))+".drop")))
	_, err = os.ReadDir(filepath.Join(dir, "queue"))
	check("list queue/", err)
	check("write into queue/", os.WriteFile(filepath.Join(dir, "queue", string(newID(time.Now()))+".msg"), []byte("x"), 0o644))
	check("write into corrupt/", os.WriteFile(filepath.Join(dir, "corrupt", "x"), []byte("x"), 0o644))
	s, err := Open(dir, Options{})
	if err != nil {
		check("open the spool", err)
		return
	}
	_, err = s.List()
	check("list the spool", err)
	_, err = s.Enqueue(context.Background(), Envelope{To: []string{"x@example.com"}}, []byte("Subject: x\r\n\r\n"), Meta{})
	check("enqueue", err)
	_, err = s.RunOnce(context.Background(), &fakeDeliverer{}, RunOptions{})
	check("run the queue", err)
}

// plant puts into maildrop/ what the daemon must not take: a valid
// submission it may not read, a link to a file the daemon may read, and a
// FIFO. It prints "PLANTED maildrop/NAME" for each.
func plant(t *testing.T, dir string) {
	md := filepath.Join(dir, "maildrop")
	data, _ := encodeDrop(Envelope{To: []string{"ops@example.com"}}, []byte("Subject: planted\r\n\r\n"))
	name := string(newID(time.Now())) + ".drop"
	if err := os.WriteFile(filepath.Join(md, name), data, 0o600); err != nil {
		t.Fatal(err)
	}
	fmt.Println("PLANTED maildrop/" + name)
	name = string(newID(time.Now())) + ".drop"
	if err := os.Symlink(filepath.Join(dir, "lock"), filepath.Join(md, name)); err != nil {
		t.Fatal(err)
	}
	fmt.Println("PLANTED maildrop/" + name)
	name = string(newID(time.Now())) + ".drop"
	if err := syscall.Mkfifo(filepath.Join(md, name), 0o666); err != nil {
		t.Fatal(err)
	}
	fmt.Println("PLANTED maildrop/" + name)
}

// serve runs the daemon until it delivered and quarantined as many as arg
// ("delivered quarantined") says, printing "DELIVERED ID" for each
// delivery; its log (JSON) goes to stderr.
func serve(t *testing.T, dir, arg string) {
	var wantD, wantQ int
	fmt.Sscan(arg, &wantD, &wantQ)
	s := mustOpen(t, dir, Options{Logger: slog.New(slog.NewJSONHandler(os.Stderr, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	d, q := 0, 0
	onEvent := func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		switch e.Outcome {
		case OutcomeSubmitted:
			d++
			fmt.Println("DELIVERED", e.ID)
		case OutcomeQuarantined:
			q++
		}
		if d >= wantD && q >= wantQ {
			cancel()
		}
	}
	if err := s.Run(ctx, &fakeDeliverer{}, RunOptions{ScanInterval: 10 * time.Millisecond, OnEvent: onEvent}); err != nil {
		t.Fatal(err)
	}
}

// runChild runs the helper as uid (and the group of the same number) and
// returns its output lines.
func runChild(t *testing.T, bin, base string, uid int, mode, dir, arg string) []string {
	t.Helper()
	cmd := childCommand(bin, base, uid, mode, dir, arg)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper %s as uid %d: %v\n%s%s", mode, uid, err, out, stderr.String())
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if l != "" && l != "PASS" {
			lines = append(lines, l)
		}
	}
	return lines
}

func childCommand(bin, base string, uid int, mode, dir, arg string) *exec.Cmd {
	cmd := exec.Command(bin, "-test.run=^TestCrossUserChild$", "-test.count=1")
	cmd.Dir = base
	cmd.Env = []string{envXUserMode + "=" + mode, envXUserDir + "=" + dir, envXUserArg + "=" + arg, "PATH=" + os.Getenv("PATH")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid), Groups: []uint32{}}}
	return cmd
}

// runDaemon runs the daemon as daemonUID until it delivered wantD and
// quarantined wantQ; after the first delivery it calls during (a
// submission made while it runs). It returns the IDs delivered and the
// daemon's WARN lines.
func runDaemon(t *testing.T, bin, base, dir string, wantD, wantQ int, during func() ID) (map[ID]bool, []string) {
	t.Helper()
	cmd := childCommand(bin, base, daemonUID, "serve", dir, strconv.Itoa(wantD)+" "+strconv.Itoa(wantQ))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	delivered := map[ID]bool{}
	go func() {
		sc := bufio.NewScanner(stdout)
		first := true
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "DELIVERED "); ok {
				delivered[ID(id)] = true
				if first {
					first = false
					during()
				}
			}
		}
		io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("daemon: %v\n%s", err, stderr.String())
		}
	case <-time.After(2 * time.Minute): // only bounds a hang
		cmd.Process.Kill()
		<-exited
		t.Fatalf("daemon did not finish:\n%s", stderr.String())
	}
	var warns []string
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(l, `"level":"WARN"`) || strings.Contains(l, `"level":"ERROR"`) {
			warns = append(warns, l)
		}
	}
	return delivered, warns
}

// copyTestBinary copies this test binary where every user may run it.
func copyTestBinary(t *testing.T, dir string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "spool.test")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

func checkOwner(t *testing.T, name string, uid, gid uint32) {
	t.Helper()
	fi, err := os.Lstat(name)
	if err != nil {
		t.Error(err)
		return
	}
	u, g, _, _ := fileOwner(fi)
	if u != uid || g != gid {
		t.Errorf("%s: owned by %d:%d, want %d:%d", name, u, g, uid, gid)
	}
}
