package main

import (
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// The release build stamps these with -ldflags (see .goreleaser.yaml):
//
//	-X main.version=1.2.3 -X main.commit=<sha> -X main.date=<RFC 3339>
//
// Left empty (go build, go install), they come from the build info.
var (
	version = ""
	commit  = ""
	date    = ""
)

func newVersionCommand(env *environment) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version of graphmail and of the Microsoft libraries it uses",
		Example: "  graphmail version",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			printVersion(env)
			return nil
		},
	}
}

// printVersion prints graphmail's version, commit and build date, and the
// Microsoft libraries' versions (graphmail version, graphmail --version).
func printVersion(env *environment) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		info = nil
	}
	b := buildVersion(info, version, commit, date)
	env.printf("graphmail %s (%s, %s/%s)\n", b.version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if b.commit != "" {
		env.printf("  commit %s\n", b.commit)
	}
	if b.date != "" {
		env.printf("  built %s\n", b.date)
	}
	for _, d := range b.deps {
		env.printf("  %s %s\n", d[0], d[1])
	}
}

// build is what graphmail version prints about the binary.
type build struct {
	version string // never empty: "devel" when unknown
	commit  string // the VCS revision, "" when unknown
	date    string // when it was built (release) or committed (vcs.time)
	deps    [][2]string
}

// shownDeps are the libraries whose versions graphmail version prints.
var shownDeps = map[string]bool{
	"github.com/AzureAD/microsoft-authentication-library-for-go": true,
	"github.com/microsoftgraph/msgraph-sdk-go":                   true,
	"github.com/emersion/go-smtp":                                true,
}

// buildVersion combines the values stamped by the release build (ldVersion,
// ldCommit, ldDate; empty when not stamped) with the build info (nil when
// there is none): "go install …@v1.2.3" gives the module version, and a
// build from a git checkout the vcs.revision and vcs.time settings (with
// "-dirty" when vcs.modified says the tree had changes). Stamped values win.
func buildVersion(info *debug.BuildInfo, ldVersion, ldCommit, ldDate string) build {
	b := build{version: ldVersion, commit: ldCommit, date: ldDate}
	if info != nil {
		if b.version == "" {
			b.version = info.Main.Version
		}
		var rev, at string
		modified := false
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if b.commit == "" && rev != "" {
			b.commit = rev
			if modified {
				b.commit += "-dirty"
			}
		}
		if b.date == "" {
			b.date = at
		}
		for _, d := range info.Deps {
			if shownDeps[d.Path] {
				b.deps = append(b.deps, [2]string{d.Path, d.Version})
			}
		}
	}
	if b.version == "" || b.version == "(devel)" {
		b.version = "devel"
	}
	return b
}
