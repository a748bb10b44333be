package sendmailcompat

import (
	"errors"
	"fmt"
	"strings"
)

// Mode is what a sendmail command line asks for.
type Mode int

const (
	// ModeSend reads a message on standard input and sends it (the
	// default, and -bm).
	ModeSend Mode = iota
	// ModeListQueue lists the queued messages (-bp, what mailq runs).
	ModeListQueue
	// ModeRunQueue tries every queued message that is due once, then exits
	// (-q, -qf and -q<interval>; graphmail does not stay running to repeat
	// the run at the interval).
	ModeRunQueue
)

var modeNames = [...]string{ModeSend: "send", ModeListQueue: "list-queue", ModeRunQueue: "run-queue"}

// String returns the mode's name: "send", "list-queue" or "run-queue".
func (m Mode) String() string {
	if m < 0 || int(m) >= len(modeNames) {
		return fmt.Sprintf("Mode(%d)", int(m))
	}
	return modeNames[m]
}

// Options are the sendmail command-line options graphmail honours.
type Options struct {
	// Mode is what to do; ModeSend unless -bp or -q is given.
	Mode Mode
	// ExtractRecipients (-t) reads recipients from the To, Cc and Bcc
	// headers, in addition to those on the command line (as Postfix does).
	ExtractRecipients bool
	// IgnoreDots (-i, -oi) keeps reading past a line holding only "."; by
	// default such a line ends the message.
	IgnoreDots bool
	// Sender (-f, -r) is the envelope sender: an addr-spec or a local name,
	// without angle brackets; "" means the default. The null sender
	// (-f "" or -f "<>") is "" too: Graph cannot send without a sender
	// mailbox, so such a message, typically a bounce, leaves from the
	// default one.
	Sender string
	// FullName (-F) is the display name for a From header that graphmail
	// adds.
	FullName string
	// Recipients are the addresses on the command line, each an addr-spec
	// or a local name: lists ("a@example.com,b@example.com") are split,
	// angle brackets and display names removed.
	Recipients []string
	// ConfigFile is graphmail's configuration file (-C FILE, --config FILE),
	// "" for the default lookup.
	ConfigFile string
	// Set are graphmail configuration overrides, "key=value" each (--set,
	// repeatable), in order.
	Set []string
	// Ignored lists options accepted for compatibility but without effect
	// (-odb, -oem, -B8BITMIME, -v…), for logging.
	Ignored []string
}

// UsageError is a command line ParseArgs cannot accept; the CLI exits 64
// (EX_USAGE).
type UsageError struct {
	// Arg is the argument at fault: the option, or a quoted value.
	Arg string
	// Problem says what is wrong with it.
	Problem string
}

// Error implements error.
func (e *UsageError) Error() string {
	return fmt.Sprintf("sendmailcompat: %s: %s", e.Arg, e.Problem)
}

// withValue are options that take a value, attached (-fuser) or as the
// next argument (-f user). -f, -r, -F and -C are used; the rest are
// ignored.
const withValue = "frFBCNRVLhOX"

// ParseArgs reads a sendmail command line without the program name, as
// cron, mailx, logwatch, PHP's mail() and git call it:
//
//	[-t] [-i] [-oi] [-f sender] [-F name] [-odb|-odq|-odi] [-oem] [-B type] [-C file] [--] [recipient ...]
//	-bp
//	-q | -qf | -q<interval>
//
// graphmail's own --config FILE and --set KEY=VALUE (also with "=") are
// accepted too. -bm is the default mode of sending a message; -bp lists
// the queue and -q runs it once (an interval such as -q15m is accepted and
// ignored); they take no recipients. Other modes (-bs, -bd, -bi…), queue
// runs that select messages (-qI, -qR, -qS, -qG, -q!) and persistent queue
// runners (-qp) are refused.
//
// The sender (-f, -r) must be one addr-spec or local name, optionally in
// angle brackets; the recipients are addr-specs, local names or Name
// <addr-spec> mailboxes, several to an argument when separated by commas.
// Control characters anywhere in them, and in -F, are refused. Every
// problem is a *UsageError.
func ParseArgs(args []string) (Options, error) {
	var o Options
	var recipients []string
	modeArg := "" // the option that set o.Mode
	setMode := func(arg string, m Mode) error {
		if modeArg != "" && m != o.Mode {
			return &UsageError{Arg: arg, Problem: "cannot be combined with " + modeArg}
		}
		o.Mode, modeArg = m, arg
		return nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			recipients = append(recipients, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			recipients = append(recipients, a)
			continue
		}
		if strings.HasPrefix(a, "--") {
			name, val, attached := strings.Cut(a[2:], "=")
			if name != "config" && name != "set" {
				return o, &UsageError{Arg: quoteArg(a), Problem: "unknown option"}
			}
			if !attached {
				if i+1 >= len(args) {
					return o, &UsageError{Arg: a, Problem: "needs a value"}
				}
				i++
				val = args[i]
			}
			if name == "config" {
				o.ConfigFile = val
				continue
			}
			if k, _, ok := strings.Cut(val, "="); !ok || strings.TrimSpace(k) == "" {
				return o, &UsageError{Arg: fmt.Sprintf("--set %q", val), Problem: "want key=value"}
			}
			o.Set = append(o.Set, val)
			continue
		}
		flag, rest := a[1], a[2:]
		if strings.IndexByte(withValue, flag) >= 0 {
			val := rest
			if val == "" {
				if i+1 >= len(args) {
					return o, &UsageError{Arg: a, Problem: "needs a value"}
				}
				i++
				val = args[i]
			}
			switch flag {
			case 'f', 'r':
				s, err := parseSender(val)
				if err != nil {
					return o, &UsageError{Arg: "-" + string(flag) + " " + fmt.Sprintf("%q", val), Problem: err.Error()}
				}
				o.Sender = s
			case 'F':
				if hasControl(val) {
					return o, &UsageError{Arg: "-F " + fmt.Sprintf("%q", val), Problem: "control character in the name"}
				}
				o.FullName = val
			case 'C':
				o.ConfigFile = val
			default:
				o.Ignored = append(o.Ignored, "-"+string(flag)+val)
			}
			continue
		}
		switch flag {
		case 't':
			o.ExtractRecipients = true
		case 'i':
			o.IgnoreDots = true
		case 'o':
			// -oi is the only -o option with an effect; -odb, -odq, -odi,
			// -oem, -oee, -om, -oQ… are sendmail tuning.
			if rest == "i" {
				o.IgnoreDots = true
			} else {
				o.Ignored = append(o.Ignored, a)
			}
		case 'b':
			var err error
			switch rest {
			case "m": // read a message and deliver it, the default
				err = setMode(a, ModeSend)
			case "p":
				err = setMode(a, ModeListQueue)
			default:
				err = &UsageError{Arg: quoteArg(a), Problem: "only sending a message (-bm), listing the queue (-bp) and running it (-q) are supported"}
			}
			if err != nil {
				return o, err
			}
		case 'q':
			if !queueRunArg(rest) {
				return o, &UsageError{Arg: quoteArg(a), Problem: "only a run of the whole queue (-q, -qf, -q<interval>) is supported"}
			}
			if err := setMode(a, ModeRunQueue); err != nil {
				return o, err
			}
		case 'v', 'U', 'G', 'n', 'm', 'e', 'x', 'd':
			o.Ignored = append(o.Ignored, a)
		default:
			return o, &UsageError{Arg: quoteArg(a), Problem: "unknown option"}
		}
		if len(rest) > 0 && (flag == 't' || flag == 'i') {
			// Combined flags such as -ti.
			more, err := ParseArgs([]string{"-" + rest})
			if err != nil || more.Mode != ModeSend || more.Sender != "" || more.FullName != "" || more.ConfigFile != "" || len(more.Recipients) > 0 {
				return o, &UsageError{Arg: quoteArg(a), Problem: "unknown option"}
			}
			o.ExtractRecipients = o.ExtractRecipients || more.ExtractRecipients
			o.IgnoreDots = o.IgnoreDots || more.IgnoreDots
			o.Ignored = append(o.Ignored, more.Ignored...)
		}
	}
	for _, r := range recipients {
		addrs, err := parseRecipientArg(r)
		if err != nil {
			return o, &UsageError{Arg: fmt.Sprintf("recipient %q", r), Problem: err.Error()}
		}
		o.Recipients = append(o.Recipients, addrs...)
	}
	if o.Mode != ModeSend && len(recipients) > 0 {
		return o, &UsageError{Arg: fmt.Sprintf("recipient %q", recipients[0]), Problem: "no recipients are taken with " + modeArg}
	}
	return o, nil
}

// quoteArg quotes an argument for a UsageError when it holds anything but
// printable ASCII.
func quoteArg(a string) string {
	for i := 0; i < len(a); i++ {
		if a[i] <= ' ' || a[i] >= 0x7f || a[i] == '"' {
			return fmt.Sprintf("%q", a)
		}
	}
	return a
}

// queueRunArg reports whether rest (what follows -q) asks for a run of the
// whole queue: nothing, "f" (in the foreground) or an interval in
// sendmail's notation, numbers each with an optional unit s, m, h, d or w
// (15m, 1h30m, 30).
func queueRunArg(rest string) bool {
	if rest == "" || rest == "f" {
		return true
	}
	digits := false
	for i := 0; i < len(rest); i++ {
		switch c := rest[i]; {
		case '0' <= c && c <= '9':
			digits = true
		case strings.IndexByte("smhdw", c) >= 0 && digits:
			digits = false
		default:
			return false
		}
	}
	return true
}

// parseSender reads the value of -f or -r: one addr-spec or local name,
// optionally in angle brackets; empty or "<>" is the null sender, "".
func parseSender(v string) (string, error) {
	if hasControl(v) {
		return "", errors.New("control character in the sender")
	}
	s := strings.TrimSpace(v)
	if strings.HasPrefix(s, "<") && strings.HasSuffix(s, ">") {
		s = s[1 : len(s)-1]
	}
	if s != "" && !isAddrSpec(s) {
		return "", errors.New("not a single address (want local@domain, <local@domain> or a local name)")
	}
	return s, nil
}

// parseRecipientArg reads a recipient argument: one or more mailboxes
// separated by commas, each an addr-spec, a local name or Name <addr-spec>.
// It returns their addresses.
func parseRecipientArg(arg string) ([]string, error) {
	if hasControl(arg) {
		return nil, errors.New("control character in the address")
	}
	pieces, ok := splitList(arg)
	if !ok {
		return nil, errNotAddress
	}
	var out []string
	for _, p := range pieces {
		if p.kind != pieceMailbox {
			return nil, errors.New("a group is not an address")
		}
		m, err := parseMailbox(p.text)
		if err != nil {
			return nil, err
		}
		out = append(out, m.Addr)
	}
	if len(out) == 0 {
		return nil, errors.New("no address")
	}
	return out, nil
}
