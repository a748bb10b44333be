package config

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// update rewrites the README's key table and the key list of doc.go from
// keyTable: go test ./config -run 'TestREADMEKeyTable|TestPackageDocKeys' -update
var update = flag.Bool("update", false, "rewrite the README key table and the doc.go key list from keyTable")

const (
	readmePath  = "../README.md"
	readmeTable = "| key | default | meaning |"
	docPath     = "doc.go"
	docStart    = "// # Keys\n//\n"
	docEnd      = "//\n// # Validation\n"
)

// defaultText is the documented default of k, in Markdown: defDoc, else
// def as code, else "—".
func (k keyDef) defaultText() string {
	if k.defDoc != "" {
		return k.defDoc
	}
	switch v := k.def.(type) {
	case nil:
		return "—"
	case string:
		if v == "" {
			return "—"
		}
		return "`" + v + "`"
	case []string:
		return "`[" + strings.Join(v, ", ") + "]`"
	}
	return fmt.Sprintf("`%v`", k.def)
}

// readmeKeyTable renders the README's key table, header included.
func readmeKeyTable() string {
	var b strings.Builder
	b.WriteString(readmeTable + "\n|---|---|---|\n")
	for _, k := range keyTable {
		doc := k.doc
		if k.azureEnv != "" {
			doc += "; also `" + k.azureEnv + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", k.name, k.defaultText(), doc)
	}
	return b.String()
}

var (
	mdLink = regexp.MustCompile(`\[([^\]]+)\]\([^)]+\)`)
	mdCode = strings.NewReplacer("`", "", "**", "")
)

// plain strips the Markdown of a doc string for the package documentation.
func plain(md string) string {
	return mdCode.Replace(mdLink.ReplaceAllString(md, "$1"))
}

// packageDocKeys renders the key list of the package documentation: a
// code block with each key and, indented below it, what it means, its
// default and its AZURE_* fallback.
func packageDocKeys() string {
	var b strings.Builder
	b.WriteString(docStart)
	for _, k := range keyTable {
		text := plain(k.doc)
		switch d := plain(k.defaultText()); {
		case d == "—":
		case strings.HasPrefix(d, "— ("):
			text += "; unset: " + strings.TrimSuffix(strings.TrimPrefix(d, "— ("), ")")
		default:
			text += "; default " + d
		}
		if k.azureEnv != "" {
			text += "; also " + k.azureEnv
		}
		b.WriteString("//\t" + k.name + "\n")
		for _, line := range wrap(text, 68) {
			b.WriteString("//\t    " + line + "\n")
		}
	}
	return b.String()
}

// wrap breaks text into lines of at most width bytes where it can.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}

// section returns the start and end offsets of the block of text that
// begins with start and ends before end (or, with end "", before the first
// line that does not begin with "|").
func section(t *testing.T, text, start, end, file string) (int, int) {
	t.Helper()
	i := strings.Index(text, start)
	if i < 0 {
		t.Fatalf("%s has no %q", file, start)
	}
	if end != "" {
		j := strings.Index(text[i:], end)
		if j < 0 {
			t.Fatalf("%s has no %q after %q", file, end, start)
		}
		return i, i + j
	}
	j := i
	for j < len(text) && text[j] == '|' {
		j += strings.IndexByte(text[j:], '\n') + 1
	}
	return i, j
}

// checkGenerated compares the section of file at [i, j) with want, and
// rewrites it with -update.
func checkGenerated(t *testing.T, file, text string, i, j int, want string) {
	t.Helper()
	if got := text[i:j]; got == want {
		return
	}
	if *update {
		if err := os.WriteFile(file, []byte(text[:i]+want+text[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote %s", file)
		return
	}
	t.Errorf("%s is out of date with keyTable; run go test ./config -run 'TestREADMEKeyTable|TestPackageDocKeys' -update\nwant:\n%s", file, want)
}

func TestREADMEKeyTable(t *testing.T) {
	data, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	i, j := section(t, text, readmeTable+"\n", "", readmePath)

	if *update {
		checkGenerated(t, readmePath, text, i, j, readmeKeyTable())
		return
	}
	// Name the keys first: a precise message beats a diff.
	documented := map[string]bool{}
	for _, row := range strings.Split(strings.TrimSpace(text[i:j]), "\n")[2:] {
		cell := strings.TrimSpace(strings.Split(row, "|")[1])
		for _, name := range strings.Split(cell, "/") {
			name = strings.Trim(strings.TrimSpace(name), "`")
			documented[name] = true
			if _, ok := lookupKey(name); !ok {
				t.Errorf("%s documents %q, which is not a key", readmePath, name)
			}
		}
	}
	for _, k := range Keys() {
		if !documented[k] {
			t.Errorf("%s does not document key %s", readmePath, k)
		}
	}
	// The paragraph below the table names the AZURE_* variables.
	for _, k := range keyTable {
		if k.azureEnv != "" && !strings.Contains(text[j:], k.azureEnv) {
			t.Errorf("%s: the text after the key table does not mention %s", readmePath, k.azureEnv)
		}
	}
	checkGenerated(t, readmePath, text, i, j, readmeKeyTable())
}

func TestPackageDocKeys(t *testing.T) {
	data, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	i, j := section(t, text, docStart, docEnd, docPath)
	checkGenerated(t, docPath, text, i, j, packageDocKeys())
}
