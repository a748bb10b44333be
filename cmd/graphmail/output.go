package main

// How the CLI talks to people and to scripts: quiet on success, one
// summary line on a terminal (or with --verbose), JSON with --json, logs
// at warn unless log.level says otherwise, and a failure reported once.

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail"
)

// writesToTerminal reports whether w is a terminal (isTerminal: not
// merely a character device such as /dev/null).
func writesToTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}

// chatty reports whether a command prints its human summary line on
// success: when standard output is a terminal, or with --verbose.
func (e *environment) chatty() bool {
	return e.verbose || writesToTerminal(e.stdout)
}

// cliLog is the log section a one-shot command logs with: standard error
// shows warnings and errors only (info with --verbose), unless log.level
// was set explicitly; log.file and log.syslog still record every message
// at info. serve logs with cfg.Log as it is (info by default).
func (e *environment) cliLog(cfg *config.Config) config.Log {
	l := cfg.Log
	if src := cfg.Sources["log.level"]; src == config.SourceDefault || src == "" {
		l.Level = config.LogWarn
		if e.verbose {
			l.Level = config.LogInfo
		}
	}
	return l
}

// useConfig records what the final error report needs from the loaded
// configuration: with log.format json it is a JSON object too.
func (e *environment) useConfig(cfg *config.Config) {
	e.jsonErrors = cfg.Log.Format == config.LogJSON
}

// failedSend reports whether r is the library's audit line of a message
// that failed (outcome=failed). A one-shot command keeps it off standard
// error, where the same failure is reported once as its error and hint;
// log.file and log.syslog keep it.
func failedSend(r slog.Record) bool {
	failed := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "outcome" {
			failed = a.Value.Kind() == slog.KindString && a.Value.String() == "failed"
			return false
		}
		return true
	})
	return failed
}

// printJSON writes v as one indented JSON object on standard output.
func (e *environment) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// errorRecord is the final error as a JSON object on standard error, with
// log.format json: log shippers then never see a plain-text line.
type errorRecord struct {
	Time     string `json:"time"`
	Level    string `json:"level"`
	Msg      string `json:"msg"`
	Command  string `json:"command"`
	Key      string `json:"key,omitempty"`
	Error    string `json:"error"`
	Hint     string `json:"hint,omitempty"`
	ExitCode int    `json:"exit_code"`
}

// reportJSON is report for log.format json: one errorRecord per problem
// (a configuration with several problems gives one per key); several
// hints are joined by a newline.
func reportJSON(w io.Writer, err error, command string, code int, now time.Time) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, p := range problems(err, command) {
		_ = enc.Encode(errorRecord{
			Time: now.Format(time.RFC3339Nano), Level: "ERROR", Msg: "failed", Command: command,
			Key: p.key, Error: p.text, Hint: strings.Join(p.hints, "\n"), ExitCode: code,
		})
	}
}

// sendResult is the result of a send as "send --json" prints it. Its
// field names are public interface (README); every field is always
// present except sandbox_file.
type sendResult struct {
	MessageID       string `json:"message_id"`
	Path            string `json:"path"` // graph or smtp
	Mailbox         string `json:"mailbox"`
	Recipients      *int   `json:"recipients"` // null for --mime: the message's own header decides
	Attempts        int    `json:"attempts"`
	RequestID       string `json:"request_id"`
	ClientRequestID string `json:"client_request_id"`
	FallbackReason  string `json:"fallback_reason"`
	UploadSession   bool   `json:"upload_session"`
	SMTPReply       string `json:"smtp_reply"`
	Bytes           int    `json:"bytes"`
	SandboxFile     string `json:"sandbox_file,omitempty"`
}

// printSent reports a successful send: JSON with --json; else the summary
// line when standard output is a terminal or with --verbose, and with
// --sandbox (box) where the message landed. rcpts < 0 means unknown
// (--mime).
func printSent(env *environment, asJSON bool, res graphmail.Result, rcpts int, box *sandbox) error {
	sandboxFile := ""
	if box != nil {
		sandboxFile = box.delivered()
	}
	if asJSON {
		out := sendResult{
			MessageID: res.MessageID, Path: res.Path, Mailbox: res.Mailbox, Attempts: res.Attempts,
			RequestID: res.RequestID, ClientRequestID: res.ClientRequestID, FallbackReason: res.FallbackReason,
			UploadSession: res.UploadSession, SMTPReply: res.Reply, Bytes: res.Bytes, SandboxFile: sandboxFile,
		}
		if rcpts >= 0 {
			out.Recipients = &rcpts
		}
		return env.printJSON(out)
	}
	if env.chatty() {
		via := "Microsoft Graph"
		switch {
		case res.Path == "smtp" && res.FallbackReason != "":
			via = "SMTP fallback (" + res.FallbackReason + ")"
		case res.Path == "smtp":
			via = "SMTP"
		case res.UploadSession:
			via = "Microsoft Graph (draft with upload session)"
		}
		if rcpts < 0 {
			env.printf("sent message <%s> via %s\n", res.MessageID, via)
		} else {
			env.printf("sent message <%s> via %s to %d recipient(s)\n", res.MessageID, via, rcpts)
		}
	}
	if box != nil {
		box.report(env, sandboxFile)
	}
	return nil
}
