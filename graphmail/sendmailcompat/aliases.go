package sendmailcompat

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// Limits that keep a hostile or broken aliases file from exhausting
// memory or time.
const (
	// MaxAliasesSize is the largest aliases file ReadAliases accepts, in
	// bytes.
	MaxAliasesSize = 1 << 20
	// MaxAliasDepth is how deeply aliases may refer to other aliases.
	MaxAliasDepth = 16
	// MaxAliasAddresses is the most addresses one recipient may expand to.
	MaxAliasAddresses = 1000

	// maxAliasWork bounds the addresses merged while expanding one
	// recipient, shared sub-aliases counted each time they are used.
	maxAliasWork = 100 * MaxAliasAddresses
	// maxWarnings bounds Aliases.Warnings; one more warning counts the
	// rest.
	maxWarnings = 20
)

// Aliases maps local recipient names to mailbox addresses, read from an
// aliases(5) file such as /etc/aliases or msmtp's aliases file:
//
//	# comment
//	root: ops@contoso.com, admin
//	admin: alice@contoso.com,
//	    bob@contoso.com
//	default: it@contoso.com
//
// Each entry is a name, a colon and a comma-separated list of targets; a
// line starting with white space continues the entry before it; a line
// whose first non-blank character is "#" is a comment. Names are
// case-insensitive. A target is an address (user@example.com,
// <user@example.com> or Name <user@example.com>) or a local name, which
// is expanded again. The entry named default is used, as in msmtp, for
// every local name without an entry of its own.
//
// Targets graphmail cannot deliver to (|command, /file, :include:/file
// and \name, delivery to a local mailbox) are skipped with an AliasWarning;
// a name left without targets is unknown. The first entry of a name
// counts, later ones are skipped with an AliasWarning.
//
// A nil *Aliases has no entries: every local recipient is unknown.
type Aliases struct {
	// LocalDomains are host names whose addresses are local, besides
	// localhost and localhost.localdomain: normally the machine's host name
	// and its fully qualified name (root@web1 and root@web1.example.com go
	// through the aliases). Case is ignored, as is a final dot.
	LocalDomains []string
	// Warnings lists what ReadAliases skipped, by line, for the caller to
	// log. At most 21 are kept; the last one then counts the rest.
	Warnings []AliasWarning

	entries map[string]aliasEntry
}

// aliasEntry is one name of an aliases file.
type aliasEntry struct {
	line    int
	targets []string // addr-specs and local names, deduplicated
}

// AliasWarning is a part of an aliases file that ReadAliases skipped.
type AliasWarning struct {
	// Line is the line number, from 1; 0 for the count of warnings not
	// listed.
	Line int
	// Name is the alias the problem belongs to, "" when the line has none.
	Name string
	// Target is the skipped target, "" for a problem of the whole line.
	Target string
	// Problem says what is wrong.
	Problem string
}

// String describes the warning, for example
// `line 3: alias "root": target "|/usr/bin/procmail" skipped: commands are not supported`.
func (w AliasWarning) String() string {
	var b strings.Builder
	if w.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", w.Line)
	}
	if w.Name != "" {
		fmt.Fprintf(&b, "alias %q: ", w.Name)
	}
	if w.Target != "" {
		fmt.Fprintf(&b, "target %q skipped: ", w.Target)
	}
	return b.String() + w.Problem
}

// AliasError is an aliases file that cannot be read or used: too large,
// unreadable, or an alias that loops, nests too deeply or expands to too
// many addresses. It is a configuration problem (exit 78 EX_CONFIG in
// the CLI).
type AliasError struct {
	// Line is the line of the alias concerned, 0 when none.
	Line int
	// Name is the alias concerned, "" when none.
	Name string
	// Problem says what is wrong.
	Problem string
	// Err is the underlying error, if any (an *fs.PathError).
	Err error
}

// Error implements error.
func (e *AliasError) Error() string {
	s := "sendmailcompat: aliases: "
	if e.Line > 0 {
		s += fmt.Sprintf("line %d: ", e.Line)
	}
	if e.Name != "" {
		s += fmt.Sprintf("alias %q: ", e.Name)
	}
	s += e.Problem
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *AliasError) Unwrap() error { return e.Err }

// UnknownRecipientError is a local recipient (root, www-data@localhost)
// that the aliases do not resolve to any address. Graph and the SMTP
// fallback can deliver only to mailbox addresses, so the message is not
// sent (exit 67 EX_NOUSER in the CLI).
type UnknownRecipientError struct {
	// Address is the recipient as given.
	Address string
	// Name is the local name without a usable alias: Address's local part,
	// or a local name that an alias of Address points to.
	Name string
	// NoTargets reports that Name has an alias, but only with targets
	// graphmail cannot deliver to (commands, files, includes).
	NoTargets bool
}

// Error implements error.
func (e *UnknownRecipientError) Error() string {
	what := "has no alias"
	if e.NoTargets {
		what = "has an alias without a deliverable address (commands, files and includes are not supported)"
	}
	if name, _, _ := strings.Cut(e.Address, "@"); e.Name != "" && !strings.EqualFold(name, e.Name) {
		return fmt.Sprintf("sendmailcompat: local recipient %q resolves to %q, which %s", e.Address, e.Name, what)
	}
	return fmt.Sprintf("sendmailcompat: local recipient %q %s", e.Address, what)
}

// LoadAliases reads the aliases file at path (see [ReadAliases]). An
// error opening or reading it is an *AliasError.
func LoadAliases(path string) (*Aliases, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &AliasError{Problem: "cannot open the file", Err: err}
	}
	defer f.Close()
	return ReadAliases(f)
}

// ReadAliases parses an aliases file (see [Aliases] for the format). Only
// a read error or a file over MaxAliasesSize fail, with an *AliasError;
// lines and targets it cannot use are skipped and listed in Warnings.
func ReadAliases(r io.Reader) (*Aliases, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxAliasesSize+1))
	if err != nil {
		return nil, &AliasError{Problem: "cannot read the file", Err: err}
	}
	if len(data) > MaxAliasesSize {
		return nil, &AliasError{Problem: fmt.Sprintf("the file is larger than %d bytes", MaxAliasesSize)}
	}
	p := aliasParser{a: &Aliases{entries: map[string]aliasEntry{}}}
	var logical strings.Builder
	start := 0 // line of the logical line being read, 0 for none
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSuffix(line, "\r")
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "" || trimmed[0] == '#':
		case line[0] == ' ' || line[0] == '\t':
			if start == 0 {
				p.warn(AliasWarning{Line: i + 1, Problem: "continuation line without an alias before it"})
				continue
			}
			logical.WriteString(" " + trimmed)
		default:
			p.entry(start, logical.String())
			logical.Reset()
			logical.WriteString(trimmed)
			start = i + 1
		}
	}
	p.entry(start, logical.String())
	if p.dropped > 0 {
		p.a.Warnings = append(p.a.Warnings, AliasWarning{Problem: fmt.Sprintf("%d more problems not listed", p.dropped)})
	}
	return p.a, nil
}

// aliasParser collects the entries and warnings of ReadAliases.
type aliasParser struct {
	a       *Aliases
	dropped int // warnings beyond maxWarnings
}

// warn records w, or counts it once maxWarnings are recorded.
func (p *aliasParser) warn(w AliasWarning) {
	if len(p.a.Warnings) >= maxWarnings {
		p.dropped++
		return
	}
	p.a.Warnings = append(p.a.Warnings, w)
}

// entry parses the logical line text that starts at line n (n 0: none).
func (p *aliasParser) entry(n int, text string) {
	if n == 0 {
		return
	}
	name, value, ok := strings.Cut(text, ":")
	name = strings.ToLower(strings.TrimSpace(name))
	switch {
	case !ok:
		p.warn(AliasWarning{Line: n, Problem: fmt.Sprintf("%q is not \"name: address, ...\"", clip(text))})
		return
	case !isLocalName(name):
		p.warn(AliasWarning{Line: n, Problem: fmt.Sprintf("alias name %q is not a local name", clip(name))})
		return
	}
	if prev, dup := p.a.entries[name]; dup {
		p.warn(AliasWarning{Line: n, Name: name, Problem: fmt.Sprintf("defined before on line %d; this entry is ignored", prev.line)})
		return
	}
	e := aliasEntry{line: n}
	seen := map[string]bool{}
	for _, t := range splitTargets(value) {
		if problem := unsupportedTarget(t); problem != "" {
			p.warn(AliasWarning{Line: n, Name: name, Target: clip(t), Problem: problem})
			continue
		}
		m, err := parseMailbox(t)
		if err != nil {
			p.warn(AliasWarning{Line: n, Name: name, Target: clip(t), Problem: err.Error()})
			continue
		}
		if k := strings.ToLower(m.Addr); !seen[k] {
			seen[k] = true
			e.targets = append(e.targets, m.Addr)
		}
	}
	if len(e.targets) == 0 && strings.TrimSpace(value) == "" {
		p.warn(AliasWarning{Line: n, Name: name, Problem: "no targets"})
	}
	p.a.entries[name] = e
}

// clip shortens s to at most 60 bytes for a warning, marking the cut.
func clip(s string) string {
	if len(s) <= 60 {
		return s
	}
	return strings.ToValidUTF8(s[:57], "") + "..."
}

// unsupportedTarget says why graphmail cannot deliver to the aliases(5)
// target t, or returns "" for an address.
func unsupportedTarget(t string) string {
	u := strings.TrimPrefix(t, `"`)
	switch {
	case len(u) >= 9 && strings.EqualFold(u[:9], ":include:"):
		return "included files are not supported"
	case strings.HasPrefix(u, "|"):
		return "commands are not supported"
	case strings.HasPrefix(u, "/"):
		return "files are not supported"
	case strings.HasPrefix(u, `\`):
		return "delivery to a local mailbox is not supported"
	}
	return ""
}

// Resolve returns the addresses a recipient stands for. A local address
// (see [Aliases.IsLocal]) is expanded through the aliases to fully
// qualified addresses, deduplicated ignoring case; any other address is
// returned as it is. A local name with no alias and no default entry, or
// one whose alias has only unsupported targets, is an
// *UnknownRecipientError; a loop, nesting deeper than MaxAliasDepth or
// more than MaxAliasAddresses addresses is an *AliasError.
func (a *Aliases) Resolve(addr string) ([]string, error) {
	return resolver{a, a.localDomains()}.resolve(addr)
}

// IsLocal reports whether addr is a local address: a name without "@", or
// an address at localhost, localhost.localdomain or one of LocalDomains
// (ignoring case).
func (a *Aliases) IsLocal(addr string) bool {
	_, ok := localPart(addr, a.localDomains())
	return ok
}

// localDomains returns a.LocalDomains; nil for a nil a.
func (a *Aliases) localDomains() []string {
	if a == nil {
		return nil
	}
	return a.LocalDomains
}

// entry returns the alias of the lower-case name key.
func (a *Aliases) entry(key string) (aliasEntry, bool) {
	if a == nil {
		return aliasEntry{}, false
	}
	e, ok := a.entries[key]
	return e, ok
}

// resolver resolves addresses through aliases, with the host names
// counted as local.
type resolver struct {
	aliases *Aliases
	domains []string
}

// isLocal reports whether addr is local.
func (r resolver) isLocal(addr string) bool {
	_, ok := localPart(addr, r.domains)
	return ok
}

// resolve implements Aliases.Resolve.
func (r resolver) resolve(addr string) ([]string, error) {
	name, ok := localPart(addr, r.domains)
	if !ok {
		return []string{addr}, nil
	}
	x := expansion{resolver: r, addr: addr, memo: map[string][]string{}, active: map[string]bool{}}
	return x.expand(name)
}

// localPart returns the local name of addr when addr is local.
func localPart(addr string, domains []string) (string, bool) {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr, true
	}
	d := strings.TrimSuffix(addr[at+1:], ".")
	if strings.EqualFold(d, "localhost") || strings.EqualFold(d, "localhost.localdomain") {
		return addr[:at], true
	}
	for _, l := range domains {
		if l = strings.TrimSuffix(l, "."); l != "" && strings.EqualFold(d, l) {
			return addr[:at], true
		}
	}
	return "", false
}

// expansion is the state of resolving one address.
type expansion struct {
	resolver
	addr   string              // the address being resolved
	memo   map[string][]string // expanded entries, by key
	active map[string]bool     // entries being expanded
	path   []string            // the names being expanded, for a loop's error
	work   int                 // addresses merged so far
}

// expand returns the addresses of the local name.
func (x *expansion) expand(name string) ([]string, error) {
	key := strings.ToLower(name)
	e, ok := x.aliases.entry(key)
	step := name
	if !ok {
		if e, ok = x.aliases.entry("default"); !ok {
			return nil, &UnknownRecipientError{Address: x.addr, Name: name}
		}
		key, step = "default", name+" (default)"
	}
	if out, done := x.memo[key]; done {
		return out, nil
	}
	x.path = append(x.path, step)
	defer func() { x.path = x.path[:len(x.path)-1] }()
	switch {
	case x.active[key]:
		return nil, &AliasError{Line: e.line, Name: key, Problem: "loop: " + strings.Join(x.path, " -> ")}
	case len(x.path) > MaxAliasDepth:
		return nil, &AliasError{Line: e.line, Name: key, Problem: fmt.Sprintf("nested more than %d deep: %s", MaxAliasDepth, strings.Join(x.path, " -> "))}
	case len(e.targets) == 0:
		return nil, &UnknownRecipientError{Address: x.addr, Name: name, NoTargets: true}
	}
	x.active[key] = true
	var out []string
	seen := map[string]bool{}
	for _, t := range e.targets {
		sub := []string{t}
		if n, local := localPart(t, x.domains); local {
			var err error
			if sub, err = x.expand(n); err != nil {
				return nil, err
			}
		}
		x.work += len(sub)
		for _, s := range sub {
			if k := strings.ToLower(s); !seen[k] {
				seen[k] = true
				out = append(out, s)
			}
		}
		if len(out) > MaxAliasAddresses || x.work > maxAliasWork {
			return nil, &AliasError{Line: e.line, Name: key, Problem: fmt.Sprintf("expands to more than %d addresses", MaxAliasAddresses)}
		}
	}
	delete(x.active, key)
	x.memo[key] = out
	return out, nil
}
