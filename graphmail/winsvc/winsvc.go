package winsvc

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf16"
)

// Name is the service's name in the service control manager, and the
// source name of its event log entries.
const Name = "graphmail"

// DisplayName is the name the Services console shows.
const DisplayName = "graphmail SMTP relay to Microsoft 365"

// Description is the service's description in the Services console.
const Description = "Accepts mail over SMTP from local applications, spools it and delivers it through Microsoft 365 (Graph sendMail, SMTP XOAUTH2 fallback)."

// Account is the virtual account the service runs as: its own identity,
// with no password, and no access beyond what is granted to it.
const Account = `NT SERVICE\` + Name

// ErrUnsupported is returned by the service operations on a system other
// than Windows.
var ErrUnsupported = errors.New("winsvc: Windows services exist only on Windows")

// StateError is an operation the service's state does not allow:
// installing an installed service, or controlling one that is not
// installed.
type StateError struct {
	Op        string // "install", "uninstall", "start", "stop"
	Installed bool   // whether the service is installed
}

func (e *StateError) Error() string {
	if e.Installed {
		return fmt.Sprintf("winsvc: %s: the %s service is already installed", e.Op, Name)
	}
	return fmt.Sprintf("winsvc: %s: the %s service is not installed", e.Op, Name)
}

// Layout is where the service keeps its files: everything under one
// directory of %ProgramData%, with Windows paths.
type Layout struct {
	Dir        string // %ProgramData%\graphmail
	Config     string // Dir\config.yaml
	Secret     string // Dir\secret: the client secret, client_secret_file
	Spool      string // Dir\spool: spool.dir
	TokenCache string // Dir\cache\tokens.bin: token_cache.path
	Log        string // Dir\graphmail.log: log.file
}

// NewLayout returns the layout below programData, the value of
// %ProgramData% (C:\ProgramData by default), which must be an absolute
// Windows path.
func NewLayout(programData string) (Layout, error) {
	programData = strings.TrimRight(programData, `\/`)
	if !isAbsWindows(programData) {
		return Layout{}, fmt.Errorf("winsvc: %%ProgramData%% is %q, not an absolute path such as C:\\ProgramData", programData)
	}
	dir := join(programData, Name)
	return Layout{
		Dir:        dir,
		Config:     join(dir, "config.yaml"),
		Secret:     join(dir, "secret"),
		Spool:      join(dir, "spool"),
		TokenCache: join(dir, "cache", "tokens.bin"),
		Log:        join(dir, "graphmail.log"),
	}, nil
}

// isAbsWindows reports whether p is a drive-letter path ("C:\…") or a UNC
// path ("\\server\share").
func isAbsWindows(p string) bool {
	if len(p) >= 2 && p[1] == ':' && ('A' <= p[0] && p[0] <= 'Z' || 'a' <= p[0] && p[0] <= 'z') {
		return len(p) == 2 || p[2] == '\\' || p[2] == '/'
	}
	return strings.HasPrefix(p, `\\`)
}

func join(elem ...string) string { return strings.Join(elem, `\`) }

// Dirs are the directories Install creates, parents first.
func (l Layout) Dirs() []string {
	return []string{l.Dir, l.Spool, l.TokenCache[:strings.LastIndex(l.TokenCache, `\`)]}
}

// RunArgs are the arguments the service manager starts the executable
// with: the hidden "service run" command, which runs graphmail serve under
// the service manager with the layout's configuration file.
func (l Layout) RunArgs() []string {
	return []string{"service", "run", "--config", l.Config}
}

// DefaultConfig is the config.yaml Install writes when there is none: the
// layout's spool, token cache, secret file and log file, and the tenant's
// keys to fill in. It holds no secret.
func (l Layout) DefaultConfig() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `# graphmail service configuration (written by graphmail service install).
# Fill in the three IDs and put the client secret into %s
# (or name a certificate with client_certificate), then check with
#   graphmail doctor --config %s
# and start the service: graphmail service start
# Only SYSTEM, Administrators and %s can read this directory.

# tenant_id: 00000000-0000-0000-0000-000000000000
# client_id: 11111111-1111-1111-1111-111111111111
# sender: reports@contoso.com
client_secret_file: %s

spool:
  dir: %s
token_cache:
  path: %s

# Warnings and errors go to the Application event log (source %s); every
# message's outcome to the log file.
log:
  level: warn
  file: %s
`, l.Secret, l.Config, Account, yamlQuote(l.Secret), yamlQuote(l.Spool), yamlQuote(l.TokenCache), Name, yamlQuote(l.Log))
	return b.Bytes()
}

// yamlQuote writes s as a single-quoted YAML scalar, in which a backslash
// is an ordinary character.
func yamlQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// ServiceSID is the SID Windows gives the service name (the account NT
// SERVICE\name): S-1-5-80 followed by the SHA-1 of the upper-cased name
// in UTF-16LE, read as five little-endian 32-bit numbers.
func ServiceSID(name string) string {
	u := utf16.Encode([]rune(strings.ToUpper(name)))
	buf := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(buf[2*i:], c)
	}
	sum := sha1.Sum(buf)
	var b strings.Builder
	b.WriteString("S-1-5-80")
	for i := 0; i < len(sum); i += 4 {
		fmt.Fprintf(&b, "-%d", binary.LittleEndian.Uint32(sum[i:]))
	}
	return b.String()
}

// ACL is the security descriptor, in SDDL, that Install gives the layout's
// directory: a protected DACL (nothing inherited from %ProgramData%,
// where every user may read) granting full control to SYSTEM, the
// Administrators and the service's account, inherited by every file and
// directory below.
func ACL() string {
	return "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;" + ServiceSID(Name) + ")"
}

// LineWriter is an io.Writer that hands each complete line written to it,
// without its line ending, to Emit; Flush hands over the rest. The service
// points graphmail serve's standard error at one that writes to the event
// log. It is safe for concurrent use.
type LineWriter struct {
	Emit func(line string)

	mu  sync.Mutex
	buf []byte
}

// Write implements io.Writer.
func (w *LineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// Flush hands over a last line without a line ending.
func (w *LineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = nil
	}
}

func (w *LineWriter) emit(line []byte) {
	if s := strings.TrimRight(string(line), "\r"); s != "" {
		w.Emit(s)
	}
}

// Events is where the service reports: the Windows event log (source
// Name).
type Events interface {
	Info(msg string)
	Error(msg string)
}
