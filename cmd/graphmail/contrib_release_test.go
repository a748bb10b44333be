package main

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/graphmail/graphmail/config"
)

// TestLaunchdPlist: the macOS example parses as a property list whose job
// runs graphmail serve and is restarted after a failure.
func TestLaunchdPlist(t *testing.T) {
	f, err := os.Open("contrib/com.github.graphmail.serve.plist")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// a plist dict is a flat sequence of <key> and value elements
	dec := xml.NewDecoder(f)
	var (
		inArgs  bool
		args    []string
		keys    = map[string]bool{}
		lastKey string
		depth   int
	)
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("plist: %v", err)
		}
		switch x := tok.(type) {
		case xml.StartElement:
			depth++
			switch x.Name.Local {
			case "key":
				var k string
				if err := dec.DecodeElement(&k, &x); err != nil {
					t.Fatal(err)
				}
				depth--
				if depth == 2 {
					keys[k] = true
				}
				lastKey = k
			case "array":
				inArgs = lastKey == "ProgramArguments"
			case "string":
				var s string
				if err := dec.DecodeElement(&s, &x); err != nil {
					t.Fatal(err)
				}
				depth--
				if inArgs {
					args = append(args, s)
				}
			}
		case xml.EndElement:
			depth--
			if x.Name.Local == "array" {
				inArgs = false
			}
		}
	}
	for _, k := range []string{"Label", "ProgramArguments", "UserName", "RunAtLoad", "KeepAlive", "ExitTimeOut"} {
		if !keys[k] {
			t.Errorf("no %s key", k)
		}
	}
	if len(args) < 2 || filepath.Base(args[0]) != "graphmail" || args[1] != "serve" {
		t.Errorf("ProgramArguments = %q, want graphmail serve …", args)
	}
	assertCommand(t, args[1:])
}

// assertCommand fails unless args name a graphmail command whose flags
// parse.
func assertCommand(t *testing.T, args []string) {
	t.Helper()
	root := newRootCommand(testEnv(io.Discard, io.Discard))
	cmd, rest, err := root.Find(args)
	if err != nil || cmd == root {
		t.Fatalf("%q names no graphmail command: %v", args, err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Errorf("%q: %v", args, err)
	}
}

// dockerfile is what TestDockerfiles reads of a Dockerfile's final stage.
type dockerfile struct {
	env         map[string]string
	user        string
	healthcheck []string
	entrypoint  string
}

func readDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	d := dockerfile{env: map[string]string{}}
	for _, line := range strings.Split(text, "\n") {
		instr, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest = strings.TrimSpace(rest)
		switch instr {
		case "FROM":
			d = dockerfile{env: map[string]string{}} // a new stage
		case "ENV":
			for _, kv := range strings.Fields(rest) {
				k, v, _ := strings.Cut(kv, "=")
				d.env[k] = v
			}
		case "USER":
			d.user = rest
		case "ENTRYPOINT":
			d.entrypoint = rest
		case "HEALTHCHECK":
			_, cmd, ok := strings.Cut(rest, "CMD ")
			if !ok {
				t.Fatalf("%s: HEALTHCHECK without CMD", path)
			}
			if err := json.Unmarshal([]byte(cmd), &d.healthcheck); err != nil {
				t.Fatalf("%s: HEALTHCHECK CMD %s is not the exec form (no shell in distroless): %v", path, cmd, err)
			}
		}
	}
	return d
}

// TestDockerfiles: both images (from source and from the release
// binaries) run as non-root, serve the metrics listener and check it with
// a real graphmail command; the two agree.
func TestDockerfiles(t *testing.T) {
	src := readDockerfile(t, "contrib/Dockerfile")
	rel := readDockerfile(t, "contrib/Dockerfile.release")
	for name, d := range map[string]dockerfile{"Dockerfile": src, "Dockerfile.release": rel} {
		if d.user == "" || strings.HasPrefix(d.user, "root") || strings.HasPrefix(d.user, "0") {
			t.Errorf("%s: USER %q, want a non-root user", name, d.user)
		}
		if len(d.healthcheck) < 2 || filepath.Base(d.healthcheck[0]) != "graphmail" {
			t.Fatalf("%s: HEALTHCHECK %q, want graphmail …", name, d.healthcheck)
		}
		assertCommand(t, d.healthcheck[1:])
		if _, err := healthzURL(d.env["GRAPHMAIL_SERVE_METRICS_LISTEN"], false); err != nil {
			t.Errorf("%s: GRAPHMAIL_SERVE_METRICS_LISTEN: %v", name, err)
		}
	}
	if !equalStrings(src.healthcheck, rel.healthcheck) || src.user != rel.user || src.entrypoint != rel.entrypoint || len(src.env) != len(rel.env) {
		t.Errorf("the two Dockerfiles differ:\n%+v\n%+v", src, rel)
	}
	for k, v := range src.env {
		if rel.env[k] != v {
			t.Errorf("ENV %s: Dockerfile %q, Dockerfile.release %q", k, v, rel.env[k])
		}
	}
}

func equalStrings(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }

// TestPackaging: the files .goreleaser.yaml packs exist, the packaged
// config.yaml is a valid configuration without a secret, and the systemd
// drop-ins run what the units run, from /usr/bin.
func TestPackaging(t *testing.T) {
	b, err := os.ReadFile("../../.goreleaser.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var gr struct {
		NFPMs []struct {
			Contents []struct {
				Src  string `yaml:"src"`
				Dst  string `yaml:"dst"`
				Type string `yaml:"type"`
			} `yaml:"contents"`
			Scripts   map[string]string `yaml:"scripts"`
			Overrides map[string]struct {
				Scripts map[string]string `yaml:"scripts"`
			} `yaml:"overrides"`
		} `yaml:"nfpms"`
		Dockers []struct {
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"dockers_v2"`
	}
	if err := yaml.Unmarshal(b, &gr); err != nil {
		t.Fatal(err)
	}
	if len(gr.NFPMs) != 2 || len(gr.Dockers) != 1 {
		t.Fatalf("want two nfpms entries (graphmail, graphmail-mta) and one dockers_v2, got %d and %d", len(gr.NFPMs), len(gr.Dockers))
	}
	var files []string
	for _, p := range gr.NFPMs {
		for _, c := range p.Contents {
			if c.Src != "" && c.Type != "symlink" {
				files = append(files, c.Src)
			}
		}
		for _, s := range p.Scripts {
			files = append(files, s)
		}
		for _, o := range p.Overrides {
			for _, s := range o.Scripts {
				files = append(files, s)
			}
		}
	}
	files = append(files, gr.Dockers[0].Dockerfile)
	for _, f := range files {
		fi, err := os.Stat(filepath.Join("../..", f))
		if err != nil {
			t.Errorf(".goreleaser.yaml names %s: %v", f, err)
			continue
		}
		if strings.HasPrefix(f, "packaging/deb/") || strings.HasPrefix(f, "packaging/rpm/") || strings.HasPrefix(f, "packaging/mta") || f == "packaging/mailq" {
			if fi.Mode().Perm()&0o111 == 0 {
				t.Errorf("%s is not executable", f)
			}
		}
	}

	cfg, err := config.Load(config.Options{
		ConfigFile: "../../packaging/config.yaml",
		LookupEnv:  func(string) (string, bool) { return "", false },
		Environ:    func() []string { return nil },
	})
	if err != nil {
		t.Fatalf("packaging/config.yaml: %v", err)
	}
	if cfg.Spool.Dir != "/var/spool/graphmail" || !cfg.Sendmail.Spool {
		t.Errorf("packaging/config.yaml: spool.dir %q, sendmail.spool %v; want /var/spool/graphmail (graphmail.tmpfiles) and true", cfg.Spool.Dir, cfg.Sendmail.Spool)
	}
	if cfg.ClientSecret.String() != "" || len(cfg.ClientSecretFiles) != 0 {
		t.Error("packaging/config.yaml names a secret: every user's sendmail reads it")
	}

	execStart := regexp.MustCompile(`(?m)^ExecStart=(.*)$`)
	for _, unit := range []string{"graphmail.service", "graphmail-queue.service"} {
		u, err := os.ReadFile("contrib/" + unit)
		if err != nil {
			t.Fatal(err)
		}
		d, err := os.ReadFile("../../packaging/systemd/" + unit + ".d/10-package.conf")
		if err != nil {
			t.Fatal(err)
		}
		um, dm := execStart.FindSubmatch(u), execStart.FindAllSubmatch(d, -1)
		if um == nil || len(um[1]) == 0 || len(dm) != 2 || len(dm[0][1]) != 0 {
			t.Fatalf("%s: want an ExecStart= in the unit, and an empty one then one in the drop-in", unit)
		}
		want := strings.Replace(string(um[1]), "/usr/local/bin/graphmail", "/usr/bin/graphmail", 1)
		if got := string(dm[1][1]); got != want {
			t.Errorf("%s drop-in: ExecStart=%s, want %s", unit, got, want)
		}
		assertCommand(t, strings.Fields(want)[1:])
	}
}
