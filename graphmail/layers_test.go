package graphmail_test

import (
	"go/build"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/graphmail/graphmail"

// leaves may import no other graphmail package except those listed.
var leaves = map[string][]string{
	"smtpfallback":              nil,
	"graphmail/relay":           {"graphmail/internal/"},
	"graphmail/spool":           {"graphmail/internal/"},
	"graphmail/sendmailcompat":  {"graphmail/internal/"},
	"graphmail/auth":            {"graphmail/auth/tokencache"},
	"graphmail/auth/tokencache": nil,
	"graphmail/winsvc":          nil,
	"graphmail/budget":          nil,
}

// TestLayers keeps the architecture of the developers' brief: the leaf
// packages import neither the SDK-heavy root package nor each other, only
// config imports viper, and nothing but the composition packages and the
// CLI imports config.
func TestLayers(t *testing.T) {
	root := ".."
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(path, 0)
		if err != nil {
			return nil // no Go files
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		for _, imp := range pkg.Imports {
			if strings.HasPrefix(imp, "github.com/spf13/viper") && rel != "config" {
				t.Errorf("%s imports viper; only config may", rel)
			}
			own, ok := strings.CutPrefix(imp, module+"/")
			if !ok {
				continue
			}
			if allowed, isLeaf := leaves[rel]; isLeaf {
				okImport := false
				for _, a := range allowed {
					if own == a || strings.HasSuffix(a, "/") && strings.HasPrefix(own, a) {
						okImport = true
					}
				}
				if !okImport {
					t.Errorf("leaf %s imports %s", rel, own)
				}
			}
			if own == "config" && !strings.HasPrefix(rel, "cmd/") && rel != "graphmail/setup" && rel != "graphmail/daemon" {
				t.Errorf("%s imports config; only the CLI and the composition packages (setup, daemon) may", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
