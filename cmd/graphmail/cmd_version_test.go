package main

import (
	"reflect"
	"runtime/debug"
	"testing"
)

// TestBuildVersion: stamped values (the release build's -ldflags) win,
// else go install's module version and the VCS settings of a build from a
// checkout, else "devel".
func TestBuildVersion(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "-trimpath", Value: "true"},
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-03-01T10:20:30Z"},
		{Key: "vcs.modified", Value: "false"},
	}
	dirty := append(append([]debug.BuildSetting(nil), vcs[:4]...), debug.BuildSetting{Key: "vcs.modified", Value: "true"})
	deps := []*debug.Module{
		{Path: "github.com/microsoftgraph/msgraph-sdk-go", Version: "v1.89.0"},
		{Path: "github.com/spf13/cobra", Version: "v1.10.2"},
		{Path: "github.com/emersion/go-smtp", Version: "v0.25.1"},
	}
	shown := [][2]string{{"github.com/microsoftgraph/msgraph-sdk-go", "v1.89.0"}, {"github.com/emersion/go-smtp", "v0.25.1"}}
	tests := []struct {
		name                string
		info                *debug.BuildInfo
		ldV, ldC, ldD       string
		wantV, wantC, wantD string
		wantDeps            [][2]string
	}{
		{
			name: "release build: ldflags win over build info",
			info: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs, Deps: deps},
			ldV:  "1.2.3", ldC: "fedcba9876543210fedcba9876543210fedcba98", ldD: "2026-04-01T00:00:00Z",
			wantV: "1.2.3", wantC: "fedcba9876543210fedcba9876543210fedcba98", wantD: "2026-04-01T00:00:00Z",
			wantDeps: shown,
		},
		{
			name:  "go install module@version: the module version, no VCS",
			info:  &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}, Deps: deps},
			wantV: "v1.2.3", wantDeps: shown,
		},
		{
			name:  "go build in a checkout: devel with the revision and its time",
			info:  &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs},
			wantV: "devel", wantC: "0123456789abcdef0123456789abcdef01234567", wantD: "2026-03-01T10:20:30Z",
		},
		{
			name:  "uncommitted changes are marked",
			info:  &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: dirty},
			wantV: "devel", wantC: "0123456789abcdef0123456789abcdef01234567-dirty", wantD: "2026-03-01T10:20:30Z",
		},
		{
			name:  "only a version stamped: commit and date from VCS",
			info:  &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs},
			ldV:   "1.2.3-SNAPSHOT-0123456",
			wantV: "1.2.3-SNAPSHOT-0123456", wantC: "0123456789abcdef0123456789abcdef01234567", wantD: "2026-03-01T10:20:30Z",
		},
		{
			name:  "no build info at all",
			wantV: "devel",
		},
		{
			name: "no build info, stamped",
			ldV:  "1.2.3", ldC: "abc", ldD: "2026-04-01T00:00:00Z",
			wantV: "1.2.3", wantC: "abc", wantD: "2026-04-01T00:00:00Z",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := buildVersion(tt.info, tt.ldV, tt.ldC, tt.ldD)
			want := build{version: tt.wantV, commit: tt.wantC, date: tt.wantD, deps: tt.wantDeps}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("buildVersion:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}
