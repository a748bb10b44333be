package sendmailcompat

import (
	"fmt"
	"strings"
)

// Options are the sendmail command-line options graphmail honours.
type Options struct {
	// ExtractRecipients (-t) reads recipients from the To, Cc and Bcc
	// headers, in addition to those on the command line (as Postfix does).
	ExtractRecipients bool
	// IgnoreDots (-i, -oi) keeps reading past a line holding only "."; by
	// default such a line ends the message.
	IgnoreDots bool
	// Sender (-f, -r) is the envelope sender; "" means the default.
	Sender string
	// FullName (-F) is the display name for a From header that graphmail
	// adds.
	FullName string
	// Recipients are the addresses on the command line.
	Recipients []string
	// Ignored lists options accepted for compatibility but without effect
	// (-odb, -oem, -B8BITMIME, -v…), for logging.
	Ignored []string
}

// UsageError is a command line ParseArgs cannot accept; the CLI exits 64
// (EX_USAGE).
type UsageError struct {
	Arg, Problem string
}

// Error implements error.
func (e *UsageError) Error() string {
	return fmt.Sprintf("sendmailcompat: %s: %s", e.Arg, e.Problem)
}

// withValue are options that take a value, attached (-fuser) or as the
// next argument (-f user). -f, -r and -F are used; the rest are ignored.
const withValue = "frFBCNRVLhOX"

// ParseArgs reads a sendmail command line without the program name, as
// cron, mailx, logwatch, PHP's mail() and git call it:
//
//	[-t] [-i] [-oi] [-f sender] [-F name] [-odb|-odq|-odi] [-oem] [-B type] [--] [recipient ...]
//
// Modes other than sending a message (-bs, -bd, -bp, -q…) are refused.
func ParseArgs(args []string) (Options, error) {
	var o Options
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			o.Recipients = append(o.Recipients, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			o.Recipients = append(o.Recipients, a)
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
				o.Sender = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(val), "<"), ">")
			case 'F':
				o.FullName = val
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
			if rest != "m" { // -bm: read a message and deliver it, the default
				return o, &UsageError{Arg: a, Problem: "only sending a message (-bm) is supported"}
			}
		case 'v', 'U', 'G', 'n', 'm', 'e', 'x', 'd':
			o.Ignored = append(o.Ignored, a)
		case 'q':
			return o, &UsageError{Arg: a, Problem: "queue runs are done by graphmail serve"}
		default:
			return o, &UsageError{Arg: a, Problem: "unknown option"}
		}
		if len(rest) > 0 && (flag == 't' || flag == 'i') {
			// Combined flags such as -ti.
			more, err := ParseArgs([]string{"-" + rest})
			if err != nil {
				return o, &UsageError{Arg: a, Problem: "unknown option"}
			}
			o.ExtractRecipients = o.ExtractRecipients || more.ExtractRecipients
			o.IgnoreDots = o.IgnoreDots || more.IgnoreDots
			o.Ignored = append(o.Ignored, more.Ignored...)
		}
	}
	return o, nil
}
