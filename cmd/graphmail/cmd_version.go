package main

import (
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

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

// printVersion prints graphmail's version and the Microsoft libraries'
// (graphmail version, graphmail --version).
func printVersion(env *environment) {
	v := version
	info, ok := debug.ReadBuildInfo()
	if v == "" && ok {
		v = info.Main.Version
	}
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	env.printf("graphmail %s (%s, %s/%s)\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if ok {
		for _, d := range info.Deps {
			switch d.Path {
			case "github.com/AzureAD/microsoft-authentication-library-for-go",
				"github.com/microsoftgraph/msgraph-sdk-go",
				"github.com/emersion/go-smtp":
				env.printf("  %s %s\n", d.Path, d.Version)
			}
		}
	}
}
