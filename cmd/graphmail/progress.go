package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// progressMinBytes: uploads smaller than this show no progress bar.
const progressMinBytes = 8 << 20

// progressBar draws upload progress on standard error when it is a
// terminal; otherwise (and with --quiet) it draws nothing.
type progressBar struct {
	w       io.Writer // nil: disabled
	mu      sync.Mutex
	drawn   bool
	lastPct int
}

func newProgressBar(env *environment, quiet bool) *progressBar {
	b := &progressBar{lastPct: -1}
	if quiet {
		return b
	}
	if f, ok := env.stderr.(*os.File); ok && isTerminal(f) {
		b.w = f
	}
	return b
}

// update is a graphmail.ProgressFunc.
func (b *progressBar) update(name string, sent, total int64) {
	if b.w == nil || total < progressMinBytes {
		return
	}
	pct := int(sent * 100 / total)
	b.mu.Lock()
	defer b.mu.Unlock()
	if pct == b.lastPct {
		return
	}
	b.lastPct = pct
	b.drawn = true
	fmt.Fprint(b.w, "\r"+renderProgress(name, sent, total, 30))
	if sent >= total {
		fmt.Fprintln(b.w)
		b.drawn, b.lastPct = false, -1
	}
}

// done ends an unfinished bar's line so that later messages start clean.
func (b *progressBar) done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		fmt.Fprintln(b.w)
		b.drawn = false
	}
}

// renderProgress draws "graphmail: uploading NAME [=====>    ]  45% 67.5/150.0 MB".
func renderProgress(name string, sent, total int64, width int) string {
	filled := int(int64(width) * sent / total)
	bar := strings.Repeat("=", filled)
	if filled < width {
		bar += ">" + strings.Repeat(" ", width-filled-1)
	}
	if len(name) > 30 {
		name = name[:27] + "..."
	}
	return fmt.Sprintf("graphmail: uploading %s [%s] %3d%% %.1f/%.1f MB", name, bar, sent*100/total, float64(sent)/(1<<20), float64(total)/(1<<20))
}
