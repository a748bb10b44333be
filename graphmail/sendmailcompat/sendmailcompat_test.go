package sendmailcompat

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want Options
	}{
		{"Debian cron", []string{"-i", "-FCronDaemon", "-B8BITMIME", "-oem", "root"},
			Options{IgnoreDots: true, FullName: "CronDaemon", Recipients: []string{"root"}, Ignored: []string{"-B8BITMIME", "-oem"}}},
		{"vixie cron", []string{"-FCronDaemon", "-i", "-odi", "-oem", "-oi", "-t"},
			Options{ExtractRecipients: true, IgnoreDots: true, FullName: "CronDaemon", Ignored: []string{"-odi", "-oem"}}},
		{"PHP mail() default sendmail_path", []string{"-t", "-i"}, Options{ExtractRecipients: true, IgnoreDots: true}},
		{"PHP mail() with additional_params -f", []string{"-t", "-i", "-fbounce@example.com"},
			Options{ExtractRecipients: true, IgnoreDots: true, Sender: "bounce@example.com"}},
		{"bsd-mailx", []string{"-oi", "-oem", "--", "ops@example.com", "-dash@example.com"},
			Options{IgnoreDots: true, Recipients: []string{"ops@example.com", "-dash@example.com"}, Ignored: []string{"-oem"}}},
		{"logwatch", []string{"-t"}, Options{ExtractRecipients: true}},
		{"separate values", []string{"-f", "<app@example.com>", "-F", "Backup Job", "-odb", "a@example.com", "b@example.com"},
			Options{Sender: "app@example.com", FullName: "Backup Job", Recipients: []string{"a@example.com", "b@example.com"}, Ignored: []string{"-odb"}}},
		{"combined flags and -r", []string{"-ti", "-r", "app@example.com", "-odq", "-v"},
			Options{ExtractRecipients: true, IgnoreDots: true, Sender: "app@example.com", Ignored: []string{"-odq", "-v"}}},
		{"-bm is the default mode", []string{"-bm", "root"}, Options{Recipients: []string{"root"}}},
		{"cronie", []string{"-FCronDaemon", "-i", "-odi", "-oem", "-oi", "-t", "-f", "root"},
			Options{ExtractRecipients: true, IgnoreDots: true, FullName: "CronDaemon", Sender: "root", Ignored: []string{"-odi", "-oem"}}},
		{"-f in angle brackets with spaces", []string{"-f", " <app@example.com> "}, Options{Sender: "app@example.com"}},
		{"null sender -f ''", []string{"-f", "", "a@example.com"}, Options{Recipients: []string{"a@example.com"}}},
		{"null sender -f<>", []string{"-f<>", "a@example.com"}, Options{Recipients: []string{"a@example.com"}}},
		{"quoted local part", []string{"-f", `"john smith"@example.com`}, Options{Sender: `"john smith"@example.com`}},
		{"recipient lists split", []string{"a@example.com,b@example.com", "root, www-data", `"Doe, John" <john@example.com>`, "<ops@example.com>"},
			Options{Recipients: []string{"a@example.com", "b@example.com", "root", "www-data", "john@example.com", "ops@example.com"}}},
		{"-C", []string{"-C", "/etc/graphmail/cron.yaml", "-t"}, Options{ExtractRecipients: true, ConfigFile: "/etc/graphmail/cron.yaml"}},
		{"-C attached", []string{"-C/etc/g.yaml", "root"}, Options{ConfigFile: "/etc/g.yaml", Recipients: []string{"root"}}},
		{"--config and --set", []string{"--config", "g.yaml", "--set", "log.level=debug", "--set=smtp.fallback=never", "-t"},
			Options{ExtractRecipients: true, ConfigFile: "g.yaml", Set: []string{"log.level=debug", "smtp.fallback=never"}}},
		{"--config=", []string{"--config=g.yaml", "root"}, Options{ConfigFile: "g.yaml", Recipients: []string{"root"}}},
		{"-bp", []string{"-bp"}, Options{Mode: ModeListQueue}},
		{"-bp -v (mailq -v)", []string{"-bp", "-v"}, Options{Mode: ModeListQueue, Ignored: []string{"-v"}}},
		{"-q", []string{"-q"}, Options{Mode: ModeRunQueue}},
		{"-qf", []string{"-qf"}, Options{Mode: ModeRunQueue}},
		{"-q15m", []string{"-q15m"}, Options{Mode: ModeRunQueue}},
		{"-q1h30m with -C", []string{"-q1h30m", "-C", "g.yaml"}, Options{Mode: ModeRunQueue, ConfigFile: "g.yaml"}},
		{"-q30", []string{"-q30"}, Options{Mode: ModeRunQueue}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseArgs(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseArgs(%q)\ngot  %+v\nwant %+v", tt.args, got, tt.want)
			}
		})
	}
}

func TestParseArgsRefuses(t *testing.T) {
	tests := []struct {
		args []string
		// want is in the error text: the argument, control characters
		// quoted.
		want string
	}{
		{[]string{"-bs"}, "-bs"},
		{[]string{"-bi"}, "-bi"},
		{[]string{"-f"}, "-f"},
		{[]string{"-Z"}, "-Z"},
		{[]string{"-tZ"}, "-tZ"},
		{[]string{"-tq"}, "-tq"},
		{[]string{"-tfa@example.com"}, "-tfa@example.com"},
		{[]string{"--verbose"}, "--verbose"},
		{[]string{"--config"}, "--config"},
		{[]string{"--set", "smtp.fallback"}, `--set "smtp.fallback"`},
		{[]string{"--set==x"}, `--set "=x"`},
		{[]string{"-qp"}, "-qp"},
		{[]string{"-qp5m"}, "-qp5m"},
		{[]string{"-qIabc"}, "-qIabc"},
		{[]string{"-qRexample.com"}, "-qRexample.com"},
		{[]string{"-q!Ifoo"}, "-q!Ifoo"},
		{[]string{"-q15x"}, "-q15x"},
		{[]string{"-qm"}, "-qm"},
		{[]string{"-bp", "root"}, `recipient "root"`},
		{[]string{"-q", "a@example.com"}, `recipient "a@example.com"`},
		{[]string{"-bp", "-q"}, "-q"},
		{[]string{"-q", "-bm"}, "-bm"},
		// Injection through -f (issue 11 item 5) and the recipients.
		{[]string{"-f", "me@x.com>\r\nContent-Type: text/html\r\nX-Injected: <"}, `"me@x.com>\r\nContent-Type: text/html\r\nX-Injected: <"`},
		{[]string{"-fme@x.com\n"}, `"me@x.com\n"`},
		{[]string{"-r", "a@example.com\x00"}, `"a@example.com\x00"`},
		{[]string{"-f", "a@example.com\t"}, `"a@example.com\t"`},
		{[]string{"-f", "a@example.com\x7f"}, `"a@example.com\x7f"`},
		{[]string{"-f", "a@example.com\u0085"}, `"a@example.com\u0085"`},
		{[]string{"-f", "Joe <joe@example.com>"}, "not a single address"},
		{[]string{"-f", "a@example.com,b@example.com"}, "not a single address"},
		{[]string{"-f", "a@example.com (comment)"}, "not a single address"},
		{[]string{"-f", "a b@example.com"}, "not a single address"},
		{[]string{"-f", "a@@example.com"}, "not a single address"},
		{[]string{"-f", "@example.com"}, "not a single address"},
		{[]string{"-f", "a@"}, "not a single address"},
		{[]string{"-f", "<<a@example.com>>"}, "not a single address"},
		{[]string{"-F", "Cron\r\nBcc: evil@example.com"}, `"Cron\r\nBcc: evil@example.com"`},
		{[]string{"a@example.com\r\nBcc: evil@example.com"}, `"a@example.com\r\nBcc: evil@example.com"`},
		{[]string{"--", "a@example.com\n"}, `"a@example.com\n"`},
		{[]string{"ok@example.com,bad\x00@example.com"}, `"ok@example.com,bad\x00@example.com"`},
		{[]string{"a@@example.com"}, "not an address"},
		{[]string{"root@"}, "not an address"},
		{[]string{""}, "no address"},
		{[]string{","}, "no address"},
		{[]string{"team: a@example.com;"}, "group"},
		{[]string{`"unterminated@example.com`}, "not an address"},
	}
	for _, tt := range tests {
		_, err := ParseArgs(tt.args)
		var ue *UsageError
		if !errors.As(err, &ue) {
			t.Errorf("ParseArgs(%q) = %v, want *UsageError", tt.args, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseArgs(%q) = %q, want it to contain %q", tt.args, err, tt.want)
		}
	}
}

var defaults = Defaults{
	From:     "robot@example.com",
	Hostname: "host.example.com",
	Now:      time.Date(2026, 11, 5, 10, 0, 0, 0, time.FixedZone("CET", 3600)),
	NewID:    func() string { return "fixed" },
}

const filled = "Date: Thu, 05 Nov 2026 10:00:00 +0100\r\nMessage-ID: <fixed@host.example.com>\r\n"

func TestPrepare(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		in      string
		wantEnv Envelope
		want    string
	}{
		{
			name: "Debian cron",
			args: []string{"-i", "-FCronDaemon", "-B8BITMIME", "-oem", "root@example.com"},
			in: "From: root (Cron Daemon)\nTo: root@example.com\nSubject: Cron <root@host> /usr/local/bin/backup\n" +
				"MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n" +
				"X-Cron-Env: <SHELL=/bin/sh>\nX-Cron-Env: <HOME=/root>\n\nbackup: 3 Dateien übertragen\n.\nstill output\n",
			wantEnv: Envelope{From: "robot@example.com", To: []string{"root@example.com"}},
			// the unqualified "root" becomes the configured mailbox, keeping the name
			want: "From: \"Cron Daemon\" <robot@example.com>\r\nTo: root@example.com\r\nSubject: Cron <root@host> /usr/local/bin/backup\r\n" +
				"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n" +
				"X-Cron-Env: <SHELL=/bin/sh>\r\nX-Cron-Env: <HOME=/root>\r\n" + filled + "\r\nbackup: 3 Dateien übertragen\r\n.\r\nstill output\r\n",
		},
		{
			name:    "PHP mail() with -t -i: Bcc extracted and removed, folded Cc",
			args:    []string{"-t", "-i", "-fbounce@example.com"},
			in:      "To: Kunde <kunde@example.net>\nSubject: =?UTF-8?B?QmVzdGVsbHVuZw==?=\nFrom: Shop <shop@example.com>\nReply-To: service@example.com\nCc: a@example.net,\n b@example.net\nBcc: archive@example.com\nMIME-Version: 1.0\nContent-Type: text/html; charset=UTF-8\n\n<p>Danke</p>\n",
			wantEnv: Envelope{From: "bounce@example.com", To: []string{"kunde@example.net", "a@example.net", "b@example.net", "archive@example.com"}},
			want:    "To: Kunde <kunde@example.net>\r\nSubject: =?UTF-8?B?QmVzdGVsbHVuZw==?=\r\nFrom: Shop <shop@example.com>\r\nReply-To: service@example.com\r\nCc: a@example.net,\r\n b@example.net\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=UTF-8\r\n" + filled + "\r\n<p>Danke</p>\r\n",
		},
		{
			name:    "mailx: a lone dot ends the message without -i",
			args:    []string{"ops@example.com"},
			in:      "Subject: disk\nTo: ops@example.com\n\n/var 91%\n.\nnot part of it\n",
			wantEnv: Envelope{From: "robot@example.com", To: []string{"ops@example.com"}},
			want:    "Subject: disk\r\nTo: ops@example.com\r\nFrom: <robot@example.com>\r\n" + filled + "\r\n/var 91%\r\n",
		},
		{
			name:    "logwatch -t with command-line recipient added, duplicates dropped",
			args:    []string{"-t", "extra@example.com"},
			in:      "To: Root@Example.com, extra@example.com\r\nFrom: logwatch@host\r\nSubject: Logwatch for host (Linux)\r\nDate: Wed, 04 Nov 2026 06:25:02 +0100\r\nMessage-ID: <lw.1@host>\r\n\r\n ################### Logwatch 7.8 ####\r\n",
			wantEnv: Envelope{From: "robot@example.com", To: []string{"extra@example.com", "Root@Example.com"}},
			want:    "To: Root@Example.com, extra@example.com\r\nFrom: logwatch@host\r\nSubject: Logwatch for host (Linux)\r\nDate: Wed, 04 Nov 2026 06:25:02 +0100\r\nMessage-ID: <lw.1@host>\r\n\r\n ################### Logwatch 7.8 ####\r\n",
		},
		{
			name:    "echo hi | sendmail -F name: no header at all",
			args:    []string{"-F", "Jörg Backup", "-f", "backup@example.com", "admin@example.com"},
			in:      "hi there: not a header because of the space\n",
			wantEnv: Envelope{From: "backup@example.com", To: []string{"admin@example.com"}},
			want:    "From: =?utf-8?q?J=C3=B6rg_Backup?= <backup@example.com>\r\n" + filled + "\r\nhi there: not a header because of the space\r\n",
		},
		{
			name:    "mbox From_ line dropped, no trailing newline",
			args:    []string{"-oi", "a@example.com"},
			in:      "From someone Thu Nov  5 10:00:00 2026\nSubject: x\n\nlast line",
			wantEnv: Envelope{From: "robot@example.com", To: []string{"a@example.com"}},
			want:    "Subject: x\r\nFrom: <robot@example.com>\r\n" + filled + "\r\nlast line\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := ParseArgs(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			env, out, err := Prepare([]byte(tt.in), opts, defaults)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(env, tt.wantEnv) {
				t.Errorf("envelope\ngot  %+v\nwant %+v", env, tt.wantEnv)
			}
			if string(out) != tt.want {
				t.Errorf("message\ngot  %q\nwant %q", out, tt.want)
			}
			if strings.Contains(string(out), "\n") && strings.Count(string(out), "\n") != strings.Count(string(out), "\r\n") {
				t.Errorf("bare LF left in %q", out)
			}
		})
	}
}

func TestPrepareRefuses(t *testing.T) {
	tests := []struct {
		name string
		args []string
		in   string
		d    Defaults
	}{
		{"no recipients", nil, "Subject: x\n\nbody\n", defaults},
		{"-t without recipient headers", []string{"-t"}, "Subject: x\n\nbody\n", defaults},
		{"no sender", []string{"a@example.com"}, "Subject: x\n\nbody\n", Defaults{}},
		{"unparsable To with -t", []string{"-t"}, "To: <<broken\n\nbody\n", defaults},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, _ := ParseArgs(tt.args)
			var me *MessageError
			if _, _, err := Prepare([]byte(tt.in), opts, tt.d); !errors.As(err, &me) {
				t.Fatalf("Prepare = %v, want *MessageError", err)
			}
		})
	}
}

func TestPrepareAliases(t *testing.T) {
	aliases := mustRead(t, "root: ops@contoso.com\nwww-data: web@contoso.com, ops@contoso.com\n")
	withDefault := mustRead(t, "root: ops@contoso.com\ndefault: it@contoso.com\n")
	d := defaults
	d.Aliases = aliases
	d.LocalDomains = []string{"web1", "web1.example.com"}
	dd := d
	dd.Aliases = withDefault
	const from = "From: <robot@example.com>\r\n"
	tests := []struct {
		name    string
		args    []string
		in      string
		d       Defaults
		wantEnv Envelope
		want    string
	}{
		{
			name:    "cronie without MAILTO",
			args:    []string{"-FCronDaemon", "-i", "-odi", "-oem", "-oi", "-t", "-f", "root"},
			in:      "To: root\nSubject: Cron <root@host> run-parts\n\nout\n",
			d:       d,
			wantEnv: Envelope{From: "robot@example.com", To: []string{"ops@contoso.com"}},
			want:    "To: ops@contoso.com\r\nSubject: Cron <root@host> run-parts\r\nFrom: \"CronDaemon\" <robot@example.com>\r\n" + filled + "\r\nout\r\n",
		},
		{
			name:    "www-data through -t, duplicates dropped",
			args:    []string{"-t", "-i"},
			in:      "To: www-data\nCc: Root <root@localhost>\n\nx\n",
			d:       d,
			wantEnv: Envelope{From: "robot@example.com", To: []string{"web@contoso.com", "ops@contoso.com"}},
			want:    "To: web@contoso.com, ops@contoso.com\r\nCc: \"Root\" <ops@contoso.com>\r\n" + from + filled + "\r\nx\r\n",
		},
		{
			name:    "root@localhost on the command line, local -f",
			args:    []string{"-f", "root@localhost", "root@localhost"},
			in:      "Subject: x\n\nbody\n",
			d:       d,
			wantEnv: Envelope{From: "robot@example.com", To: []string{"ops@contoso.com"}},
			want:    "Subject: x\r\n" + from + filled + "\r\nbody\r\n",
		},
		{
			name:    "root@<hostname> and its FQDN, local From header",
			args:    []string{"root@WEB1", "root@web1.example.com", "-f", "www-data@web1"},
			in:      "From: root@web1.example.com (Cron Daemon)\nSubject: x\n\nbody\n",
			d:       d,
			wantEnv: Envelope{From: "robot@example.com", To: []string{"ops@contoso.com"}},
			want:    "From: \"Cron Daemon\" <robot@example.com>\r\nSubject: x\r\n" + filled + "\r\nbody\r\n",
		},
		{
			name:    "host names of the aliases count too",
			args:    []string{"root@web2"},
			in:      "Subject: x\n\nbody\n",
			d:       Defaults{From: defaults.From, Hostname: defaults.Hostname, Now: defaults.Now, NewID: defaults.NewID, Aliases: &Aliases{LocalDomains: []string{"web2"}, entries: aliases.entries}},
			wantEnv: Envelope{From: "robot@example.com", To: []string{"ops@contoso.com"}},
			want:    "Subject: x\r\n" + from + filled + "\r\nbody\r\n",
		},
		{
			name:    "default entry",
			args:    []string{"backup", "root"},
			in:      "To: backup, root\n\nbody\n",
			d:       dd,
			wantEnv: Envelope{From: "robot@example.com", To: []string{"it@contoso.com", "ops@contoso.com"}},
			want:    "To: it@contoso.com, ops@contoso.com\r\n" + from + filled + "\r\nbody\r\n",
		},
		{
			name:    "qualified -f kept, header To rewritten without -t",
			args:    []string{"-f", "bounce@example.com", "other@example.com"},
			in:      "To: root\n\nbody\n",
			d:       d,
			wantEnv: Envelope{From: "bounce@example.com", To: []string{"other@example.com"}},
			want:    "To: ops@contoso.com\r\nFrom: <bounce@example.com>\r\n" + filled + "\r\nbody\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := ParseArgs(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			env, out, err := Prepare([]byte(tt.in), opts, tt.d)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(env, tt.wantEnv) {
				t.Errorf("envelope\ngot  %+v\nwant %+v", env, tt.wantEnv)
			}
			if string(out) != tt.want {
				t.Errorf("message\ngot  %q\nwant %q", out, tt.want)
			}
		})
	}
}

func TestPrepareUnknownRecipient(t *testing.T) {
	aliases := mustRead(t, "root: ops@contoso.com\nloop: loop\n")
	d := defaults
	d.Aliases = aliases
	d.LocalDomains = []string{"web1"}
	tests := []struct {
		name    string
		args    []string
		in      string
		d       Defaults
		address string // "" for an *AliasError
	}{
		{"cron without aliases", []string{"-FCronDaemon", "-i", "-odi", "-oem", "-oi", "-t", "-f", "root"}, "To: root\nSubject: x\n\nout\n", defaults, "root"},
		{"www-data without aliases", []string{"-t"}, "To: www-data\n\nout\n", defaults, "www-data"},
		{"command line", []string{"nobody@web1"}, "Subject: x\n\nbody\n", d, "nobody@web1"},
		{"header without -t", []string{"ops@example.com"}, "To: ops@example.com\nCc: nobody\n\nbody\n", d, "nobody"},
		{"alias loop", []string{"loop"}, "Subject: x\n\nbody\n", d, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := ParseArgs(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = Prepare([]byte(tt.in), opts, tt.d)
			var u *UnknownRecipientError
			var ae *AliasError
			var me *MessageError
			switch {
			case errors.As(err, &me):
				t.Fatalf("Prepare = %v, a *MessageError", err)
			case tt.address == "" && !errors.As(err, &ae):
				t.Fatalf("Prepare = %v, want *AliasError", err)
			case tt.address != "" && (!errors.As(err, &u) || u.Address != tt.address):
				t.Fatalf("Prepare = %v, want *UnknownRecipientError for %q", err, tt.address)
			}
		})
	}
}

func TestPrepareRevalidates(t *testing.T) {
	for _, opts := range []Options{
		{Sender: "a@example.com>\r\nX-Injected: <", Recipients: []string{"r@example.com"}},
		{Sender: "Joe <joe@example.com>", Recipients: []string{"r@example.com"}},
		{Recipients: []string{"r@example.com\r\nBcc: evil@example.com"}},
		{Recipients: []string{"r@@example.com"}},
	} {
		var ue *UsageError
		if _, _, err := Prepare([]byte("Subject: x\n\nbody\n"), opts, defaults); !errors.As(err, &ue) {
			t.Errorf("Prepare(%+v) = %v, want *UsageError", opts, err)
		}
	}
}
