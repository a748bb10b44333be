package main

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestPrometheusAlertRules: the example alert rules parse as a Prometheus
// rule file (groups of named rules, each with an alert name, an
// expression and a severity) and use the metrics serve exposes.
func TestPrometheusAlertRules(t *testing.T) {
	b, err := os.ReadFile("contrib/prometheus/graphmail-alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("graphmail-alerts.yml: %v", err)
	}
	if len(file.Groups) == 0 {
		t.Fatal("no rule groups")
	}
	metrics := map[string]bool{}
	for _, g := range file.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q: a name and rules are required", g.Name)
		}
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %q: alert, expr, labels.severity and annotations.summary are required", r.Alert)
			}
			for _, m := range []string{"graphmail_credential_expiry_timestamp_seconds", "graphmail_token_expiry_seconds"} {
				if strings.Contains(r.Expr, m) {
					metrics[m] = true
				}
			}
		}
	}
	if !metrics["graphmail_credential_expiry_timestamp_seconds"] {
		t.Error("no rule uses graphmail_credential_expiry_timestamp_seconds")
	}
}
