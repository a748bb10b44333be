package config

import "strings"

// suggest returns the candidate closest to name, or "" when none is close
// enough to be a plausible typo. A candidate whose last segment equals name
// (host → smtp.host) also counts as close.
func suggest(name string, candidates []string) string {
	name = strings.ToLower(name)
	best, bestDist := "", -1
	for _, c := range candidates {
		d := editDistance(name, strings.ToLower(c))
		if d < bestDist || bestDist < 0 {
			best, bestDist = c, d
		}
	}
	if best != "" && (bestDist <= 2 || bestDist*3 <= len(name)) {
		return best
	}
	for _, c := range candidates {
		if strings.ToLower(c[strings.LastIndex(c, ".")+1:]) == name {
			return c
		}
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b, counted in bytes
// (keys are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
