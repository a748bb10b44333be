package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/graphmail/graphmail/config"
)

// The deployment recipes of cmd/graphmail/contrib (compose and Kubernetes)
// cannot be run here (no Docker engine, no cluster), so these tests read
// them as Docker and Kubernetes would and check what makes the relays a
// working high-availability set: the NATS cluster, the relays' real
// configuration (loaded with the config package, with the environment the
// container gets), the probes, the secret and the pod security.

const (
	composeDir    = "contrib/compose"
	kubernetesDir = "contrib/kubernetes"
	// relayUID is the distroless image's nonroot user.
	relayUID = 65532
	// relayShutdown is how long graphmail serve may take to stop after
	// SIGTERM: 10 s for SMTP sessions (daemon.Run's Shutdown) plus 30 s for
	// deliveries in flight (spool.RunOptions.Grace's default).
	relayShutdown = 40
)

// ---- docker compose -------------------------------------------------------

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
	Networks map[string]struct {
		IPAM struct {
			Config []struct {
				Subnet string `yaml:"subnet"`
			} `yaml:"config"`
		} `yaml:"ipam"`
	} `yaml:"networks"`
	Secrets map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Tmpfs       []string          `yaml:"tmpfs"`
	Secrets     []string          `yaml:"secrets"`
	ReadOnly    bool              `yaml:"read_only"`
	CapDrop     []string          `yaml:"cap_drop"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	StopGracePeriod string `yaml:"stop_grace_period"`
	DependsOn       any    `yaml:"depends_on"`
	Networks        any    `yaml:"networks"`
}

// natsFlags parses a nats-server command line into its flags (a flag
// without a value maps to "true"), accepting -f and --f as nats-server
// does.
func natsFlags(args []string) (map[string]string, error) {
	bools := map[string]bool{"js": true, "jetstream": true, "D": true, "V": true, "DV": true, "T": true}
	aliases := map[string]string{"jetstream": "js", "sd": "store_dir", "n": "name", "server_name": "name", "m": "http_port", "p": "port"}
	out := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return nil, fmt.Errorf("argument %q is not a flag", a)
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !hasValue && !bools[name] {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("flag %s without a value", a)
			}
			i++
			value = args[i]
		} else if !hasValue {
			value = "true"
		}
		if n, ok := aliases[name]; ok {
			name = n
		}
		out[name] = value
	}
	return out, nil
}

// urlHostPorts returns "host:port" for each URL of a comma-separated list;
// a URL without a port gets def.
func urlHostPorts(t *testing.T, list, def string) []string {
	t.Helper()
	var out []string
	for _, s := range strings.Split(list, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || u.Host == "" {
			t.Fatalf("%q is not a URL with a host: %v", s, err)
		}
		port := u.Port()
		if port == "" {
			port = def
		}
		out = append(out, net.JoinHostPort(u.Hostname(), port))
	}
	return out
}

// loadRelayConfig loads file as graphmail serve would in a container whose
// environment is env, for the nonroot user.
func loadRelayConfig(t *testing.T, file string, env map[string]string) *config.Config {
	t.Helper()
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	cfg, err := config.Load(config.Options{
		ConfigFile: file,
		LookupEnv: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok && v != ""
		},
		Environ: func() []string { return environ },
		Geteuid: func() int { return relayUID },
	})
	if err != nil {
		t.Fatalf("graphmail cannot load %s with the container's environment: %v", file, err)
	}
	return cfg
}

// listenPort returns the port of a listen address such as 0.0.0.0:9090.
func listenPort(t *testing.T, key, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s %q: %v", key, addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("%s %q: port: %v", key, addr, err)
	}
	return n
}

// under reports whether p is dir or inside it.
func under(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(composeDir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return f
}

// TestDeployComposeNATS: three nats-server services with JetStream, each
// with its own name and volume, in one cluster whose routes name the two
// other servers, on a pinned image, with a health check.
func TestDeployComposeNATS(t *testing.T) {
	f := readCompose(t)
	nats := natsServices(f)
	if len(nats) != 3 {
		t.Fatalf("compose.yaml has NATS services %v, want 3", slices.Sorted(maps.Keys(nats)))
	}
	clusterPorts := map[string]string{}
	clusterNames := map[string]bool{}
	serverNames := map[string]string{}
	for name, fl := range nats {
		_, port, err := net.SplitHostPort(strings.TrimPrefix(fl["cluster"], "nats://"))
		if err != nil {
			t.Fatalf("%s: --cluster %q: %v", name, fl["cluster"], err)
		}
		clusterPorts[name] = port
		clusterNames[fl["cluster_name"]] = true
		if other, dup := serverNames[fl["name"]]; dup || fl["name"] == "" {
			t.Errorf("%s: server name %q is empty or also %s's: JetStream needs unique names", name, fl["name"], other)
		}
		serverNames[fl["name"]] = name
	}
	if len(clusterNames) != 1 || clusterNames[""] {
		t.Errorf("cluster names %v: want one, shared by all three", slices.Sorted(maps.Keys(clusterNames)))
	}
	for _, name := range slices.Sorted(maps.Keys(nats)) {
		t.Run(name, func(t *testing.T) {
			fl, svc := nats[name], f.Services[name]
			if fl["js"] != "true" {
				t.Errorf("command %q: JetStream (--js) is off", svc.Command)
			}
			var want []string
			for other := range nats {
				if other != name {
					want = append(want, net.JoinHostPort(other, clusterPorts[other]))
				}
			}
			slices.Sort(want)
			got := urlHostPorts(t, fl["routes"], "6222")
			got = slices.DeleteFunc(got, func(hp string) bool { return hp == net.JoinHostPort(name, clusterPorts[name]) })
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("--routes %q: routes to %v, want the two other servers %v", fl["routes"], got, want)
			}
			store := fl["store_dir"]
			if store == "" || !slices.ContainsFunc(svc.Volumes, func(v string) bool {
				src, dst, _ := strings.Cut(v, ":")
				_, declared := f.Volumes[src]
				return declared && strings.TrimSuffix(dst, ":rw") == store
			}) {
				t.Errorf("store_dir %q is not on a named volume of its own (volumes %q)", store, svc.Volumes)
			}
			if tag := svc.Image[strings.LastIndex(svc.Image, ":")+1:]; !regexp.MustCompile(`^2\.\d+(\.\d+)?-`).MatchString(tag) {
				t.Errorf("image %q: pin a NATS 2.x version", svc.Image)
			}
			if svc.Healthcheck == nil || !strings.Contains(strings.Join(svc.Healthcheck.Test, " "), ":"+fl["http_port"]+"/healthz") {
				t.Errorf("healthcheck should ask /healthz on the monitoring port %q", fl["http_port"])
			}
		})
	}
	seen := map[string]string{}
	for name := range nats {
		for _, v := range f.Services[name].Volumes {
			src, _, _ := strings.Cut(v, ":")
			if other, ok := seen[src]; ok {
				t.Errorf("%s and %s share the volume %s", name, other, src)
			}
			seen[src] = name
		}
	}
}

// natsServices returns the flags of each service running the NATS image.
func natsServices(f composeFile) map[string]map[string]string {
	out := map[string]map[string]string{}
	for name, s := range f.Services {
		if strings.HasPrefix(s.Image, "nats:") {
			fl, err := natsFlags(s.Command)
			if err != nil {
				fl = map[string]string{"error": err.Error()}
			}
			out[name] = fl
		}
	}
	return out
}

// TestDeployComposeRelays: three relays built from the repository's
// Dockerfile, whose configuration (graphmail.yaml with the service's
// environment, loaded by the config package) puts the queue on a
// three-replica stream of the three NATS servers, reads the client secret
// from the compose secret, and writes only to its tmpfs; HAProxy sends
// them connections with the PROXY protocol from a trusted address and
// checks /readyz on their metrics port.
func TestDeployComposeRelays(t *testing.T) {
	f := readCompose(t)
	nats := natsServices(f)
	var natsClients []string
	for name, fl := range nats {
		port := fl["port"]
		if port == "" {
			port = "4222"
		}
		natsClients = append(natsClients, net.JoinHostPort(name, port))
	}
	slices.Sort(natsClients)

	var relays []string
	for name, s := range f.Services {
		if s.Build != nil {
			relays = append(relays, name)
		}
	}
	slices.Sort(relays)
	if len(relays) != 3 {
		t.Fatalf("compose.yaml builds relays %v, want 3", relays)
	}
	haproxy, err := os.ReadFile(filepath.Join(composeDir, "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	lb := parseHAProxy(string(haproxy))
	lbAddr := haproxyAddress(t, f)
	if !slices.Equal(lb.servers, relays) {
		t.Errorf("haproxy.cfg sends to %v, want the relays %v", lb.servers, relays)
	}

	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range relays {
		t.Run(name, func(t *testing.T) {
			s := f.Services[name]
			ctx, err := filepath.Abs(filepath.Join(composeDir, s.Build.Context))
			if err != nil || ctx != repo {
				t.Errorf("build context %q is %s, want the repository root %s", s.Build.Context, ctx, repo)
			}
			if s.Build.Dockerfile != "cmd/graphmail/contrib/Dockerfile" {
				t.Errorf("dockerfile %q, want cmd/graphmail/contrib/Dockerfile", s.Build.Dockerfile)
			}
			if _, err := os.Stat(filepath.Join(repo, s.Build.Dockerfile)); err != nil {
				t.Errorf("dockerfile: %v", err)
			}
			mounted := ""
			for _, v := range s.Volumes {
				src, dst, _ := strings.Cut(v, ":")
				dst, _, _ = strings.Cut(dst, ":")
				if dst == s.Environment[config.EnvConfig] {
					mounted = filepath.Join(composeDir, src)
				}
			}
			if mounted == "" {
				t.Fatalf("no volume mounts a file at %s=%q (volumes %q)", config.EnvConfig, s.Environment[config.EnvConfig], s.Volumes)
			}
			cfg := loadRelayConfig(t, mounted, s.Environment)
			checkRelayConfig(t, cfg, natsClients)

			if len(s.Secrets) != 1 || len(cfg.ClientSecretFiles) != 1 || cfg.ClientSecretFiles[0] != "/run/secrets/"+s.Secrets[0] {
				t.Errorf("client_secret_file %q, want the compose secret /run/secrets/<one of %q>", cfg.ClientSecretFiles, s.Secrets)
			} else if f.Secrets[s.Secrets[0]].File == "" {
				t.Errorf("secret %q is not a file secret at the top level", s.Secrets[0])
			}

			if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") {
				t.Errorf("read_only %v, cap_drop %q: want a read-only root and no capabilities", s.ReadOnly, s.CapDrop)
			}
			for key, p := range map[string]string{"spool.dir": cfg.Spool.Dir, "token_cache.path": cfg.TokenCache.Path} {
				if !slices.ContainsFunc(s.Tmpfs, func(m string) bool {
					dir, opts, _ := strings.Cut(m, ":")
					return under(p, dir) && strings.Contains(opts, "uid="+strconv.Itoa(relayUID))
				}) {
					t.Errorf("%s %s is on no tmpfs the nonroot user owns (tmpfs %q); the root file system is read-only", key, p, s.Tmpfs)
				}
			}
			if g := s.StopGracePeriod; g == "" || mustSeconds(t, g) < relayShutdown {
				t.Errorf("stop_grace_period %q: serve needs %d s to stop", g, relayShutdown)
			}

			if p := listenPort(t, "serve.listen", cfg.Serve.Listen); p != lb.port {
				t.Errorf("serve.listen port %d, haproxy.cfg sends to %d", p, lb.port)
			}
			if p := listenPort(t, "serve.metrics_listen", cfg.Serve.MetricsListen); p != lb.checkPort {
				t.Errorf("serve.metrics_listen port %d, haproxy.cfg checks port %d", p, lb.checkPort)
			}
			if !cfg.Serve.ProxyProtocol || !lb.sendProxy {
				t.Errorf("serve.proxy_protocol %v, haproxy send-proxy %v: both or neither", cfg.Serve.ProxyProtocol, lb.sendProxy)
			}
			if !slices.ContainsFunc(cfg.Serve.ProxyTrustedNets, func(p netip.Prefix) bool { return p.Contains(lbAddr) }) {
				t.Errorf("serve.proxy_trusted_nets %v does not hold HAProxy's address %s", cfg.Serve.ProxyTrustedNets, lbAddr)
			}
		})
	}
	if lb.check != "/readyz" {
		t.Errorf("haproxy.cfg checks %q, want /readyz", lb.check)
	}
}

// checkRelayConfig checks what every relay of a high-availability set
// needs: the nats backend on a three-replica stream of all the servers,
// and a metrics listener.
func checkRelayConfig(t *testing.T, cfg *config.Config, natsServers []string) {
	t.Helper()
	if cfg.Spool.Backend != config.SpoolNATS {
		t.Errorf("spool.backend %q, want nats", cfg.Spool.Backend)
	}
	if cfg.NATS.Replicas != 3 {
		t.Errorf("nats.replicas %d, want 3", cfg.NATS.Replicas)
	}
	got := urlHostPorts(t, cfg.NATS.URL, "4222")
	slices.Sort(got)
	if !slices.Equal(got, natsServers) {
		t.Errorf("nats.url %q names %v, want all of %v", cfg.NATS.URL, got, natsServers)
	}
	if cfg.Serve.MetricsListen == "" {
		t.Error("serve.metrics_listen is off: no /readyz to probe")
	}
}

// mustSeconds parses a compose duration such as "60s" or "1m".
func mustSeconds(t *testing.T, s string) int {
	t.Helper()
	m := regexp.MustCompile(`^(\d+)(s|m)$`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("duration %q: want Ns or Nm", s)
	}
	n, _ := strconv.Atoi(m[1])
	if m[2] == "m" {
		n *= 60
	}
	return n
}

// haproxyAddress is the fixed address compose gives the haproxy service.
func haproxyAddress(t *testing.T, f composeFile) netip.Addr {
	t.Helper()
	nets, ok := f.Services["haproxy"].Networks.(map[string]any)
	if !ok {
		t.Fatalf("the haproxy service needs a fixed address (networks: {name: {ipv4_address: …}}), got %v", f.Services["haproxy"].Networks)
	}
	for name, n := range nets {
		m, _ := n.(map[string]any)
		s, _ := m["ipv4_address"].(string)
		a, err := netip.ParseAddr(s)
		if err != nil {
			continue
		}
		for _, c := range f.Networks[name].IPAM.Config {
			if p, err := netip.ParsePrefix(c.Subnet); err == nil && p.Contains(a) {
				return a
			}
		}
		t.Fatalf("haproxy's address %s is outside the subnet of network %s", a, name)
	}
	t.Fatal("the haproxy service has no ipv4_address")
	return netip.Addr{}
}

// haproxyConf is what the tests read of haproxy.cfg's backend.
type haproxyConf struct {
	servers   []string // host names of the server lines
	port      int      // their port (all the same)
	checkPort int
	check     string // the path of option httpchk
	sendProxy bool
}

func parseHAProxy(s string) haproxyConf {
	var c haproxyConf
	for _, line := range strings.Split(s, "\n") {
		w := strings.Fields(line)
		if len(w) == 0 || strings.HasPrefix(w[0], "#") {
			continue
		}
		switch {
		case w[0] == "server" && len(w) >= 3:
			host, port, _ := strings.Cut(w[2], ":")
			c.servers = append(c.servers, host)
			c.port, _ = strconv.Atoi(port)
		case w[0] == "option" && len(w) >= 4 && w[1] == "httpchk":
			c.check = w[3]
		}
		if (w[0] == "server" || w[0] == "default-server") && slices.Contains(w, "check") {
			if i := slices.Index(w, "port"); i >= 0 && i+1 < len(w) {
				c.checkPort, _ = strconv.Atoi(w[i+1])
			}
			c.sendProxy = c.sendProxy || slices.Contains(w, "send-proxy-v2") || slices.Contains(w, "send-proxy")
		}
	}
	slices.Sort(c.servers)
	return c
}

// ---- Kubernetes -----------------------------------------------------------

type k8sMeta struct {
	Name   string            `yaml:"name"`
	Labels map[string]string `yaml:"labels"`
}

type k8sObject struct {
	Kind     string  `yaml:"kind"`
	Metadata k8sMeta `yaml:"metadata"`
	node     yaml.Node
}

type k8sSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type k8sContainer struct {
	Name  string `yaml:"name"`
	Image string `yaml:"image"`
	Env   []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	Lifecycle      *struct {
		PreStop *struct {
			Sleep *struct {
				Seconds int `yaml:"seconds"`
			} `yaml:"sleep"`
		} `yaml:"preStop"`
	} `yaml:"lifecycle"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext *struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type k8sVolume struct {
	Name      string `yaml:"name"`
	ConfigMap *struct {
		Name  string `yaml:"name"`
		Items []struct {
			Key  string `yaml:"key"`
			Path string `yaml:"path"`
		} `yaml:"items"`
	} `yaml:"configMap"`
	Secret *struct {
		SecretName  string `yaml:"secretName"`
		DefaultMode *int   `yaml:"defaultMode"`
		Items       []struct {
			Key  string `yaml:"key"`
			Path string `yaml:"path"`
		} `yaml:"items"`
	} `yaml:"secret"`
	EmptyDir *struct {
		Medium string `yaml:"medium"`
	} `yaml:"emptyDir"`
}

type k8sDeployment struct {
	Spec struct {
		Replicas int         `yaml:"replicas"`
		Selector k8sSelector `yaml:"selector"`
		Template struct {
			Metadata k8sMeta `yaml:"metadata"`
			Spec     struct {
				TerminationGracePeriodSeconds *int  `yaml:"terminationGracePeriodSeconds"`
				EnableServiceLinks            *bool `yaml:"enableServiceLinks"`
				SecurityContext               struct {
					RunAsNonRoot *bool `yaml:"runAsNonRoot"`
					RunAsUser    *int  `yaml:"runAsUser"`
				} `yaml:"securityContext"`
				TopologySpreadConstraints []struct {
					TopologyKey   string      `yaml:"topologyKey"`
					LabelSelector k8sSelector `yaml:"labelSelector"`
				} `yaml:"topologySpreadConstraints"`
				Affinity   any            `yaml:"affinity"`
				Containers []k8sContainer `yaml:"containers"`
				Volumes    []k8sVolume    `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type k8sService struct {
	Spec struct {
		Type                  string            `yaml:"type"`
		ExternalTrafficPolicy string            `yaml:"externalTrafficPolicy"`
		Selector              map[string]string `yaml:"selector"`
		Ports                 []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort any    `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type k8sPDB struct {
	Spec struct {
		MinAvailable   any         `yaml:"minAvailable"`
		MaxUnavailable any         `yaml:"maxUnavailable"`
		Selector       k8sSelector `yaml:"selector"`
	} `yaml:"spec"`
}

// readManifests parses every document of the files kustomization.yaml
// lists.
func readManifests(t *testing.T) []k8sObject {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(kubernetesDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Kind      string   `yaml:"kind"`
		Namespace string   `yaml:"namespace"`
		Resources []string `yaml:"resources"`
		Images    []struct {
			Name    string `yaml:"name"`
			NewName string `yaml:"newName"`
			NewTag  string `yaml:"newTag"`
		} `yaml:"images"`
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if k.Kind != "Kustomization" || len(k.Resources) == 0 {
		t.Fatalf("kustomization.yaml: kind %q, resources %q", k.Kind, k.Resources)
	}
	var objs []k8sObject
	for _, r := range k.Resources {
		b, err := os.ReadFile(filepath.Join(kubernetesDir, r))
		if err != nil {
			t.Fatalf("kustomization.yaml lists %s: %v", r, err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var o k8sObject
			err := dec.Decode(&o.node)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", r, err)
			}
			if err := o.node.Decode(&o); err != nil {
				t.Fatalf("%s: %v", r, err)
			}
			if o.Kind == "" || o.Metadata.Name == "" {
				t.Fatalf("%s: a document without kind or name", r)
			}
			objs = append(objs, o)
		}
	}
	for _, o := range objs {
		if o.Kind != "Deployment" {
			continue
		}
		var d k8sDeployment
		if err := o.node.Decode(&d); err != nil {
			t.Fatal(err)
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if !slices.ContainsFunc(k.Images, func(i struct {
				Name    string `yaml:"name"`
				NewName string `yaml:"newName"`
				NewTag  string `yaml:"newTag"`
			}) bool {
				return i.Name == c.Image && i.NewName != "" && i.NewTag != "" && i.NewTag != "latest"
			}) {
				t.Errorf("kustomization.yaml: images should give %q a registry name and a pinned tag", c.Image)
			}
		}
	}
	return objs
}

// one returns the only object of a kind, decoded into v.
func one(t *testing.T, objs []k8sObject, kind string, v any) k8sObject {
	t.Helper()
	var found []k8sObject
	for _, o := range objs {
		if o.Kind == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s, found %d", kind, len(found))
	}
	if err := found[0].node.Decode(v); err != nil {
		t.Fatalf("%s %s: %v", kind, found[0].Metadata.Name, err)
	}
	return found[0]
}

// natsValues reads nats-values.yaml.
type natsValues struct {
	Config struct {
		Cluster struct {
			Enabled  bool `yaml:"enabled"`
			Replicas int  `yaml:"replicas"`
		} `yaml:"cluster"`
		JetStream struct {
			Enabled   bool `yaml:"enabled"`
			FileStore struct {
				Enabled bool   `yaml:"enabled"`
				Dir     string `yaml:"dir"`
				PVC     struct {
					Enabled bool   `yaml:"enabled"`
					Size    string `yaml:"size"`
				} `yaml:"pvc"`
			} `yaml:"fileStore"`
		} `yaml:"jetstream"`
	} `yaml:"config"`
	FullnameOverride string `yaml:"fullnameOverride"`
}

// helmVersion matches the chart version of a helm install command.
var helmVersion = regexp.MustCompile(`helm install nats nats/nats --version (\S+)`)

// TestDeployNATSValues: the values for the official NATS chart give a
// cluster of three with JetStream on file storage on a PVC, and every
// install command in the recipes and the README pins the same chart
// version.
func TestDeployNATSValues(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(kubernetesDir, "nats-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v natsValues
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatalf("nats-values.yaml: %v", err)
	}
	js := v.Config.JetStream
	for _, c := range []struct {
		what string
		ok   bool
	}{
		{"config.cluster.enabled: true", v.Config.Cluster.Enabled},
		{"config.cluster.replicas: 3", v.Config.Cluster.Replicas == 3},
		{"config.jetstream.enabled: true", js.Enabled},
		{"config.jetstream.fileStore.enabled: true", js.FileStore.Enabled},
		{"config.jetstream.fileStore.pvc.enabled: true with a size", js.FileStore.PVC.Enabled && js.FileStore.PVC.Size != ""},
		{"no fullnameOverride (relay.yaml names the release's pods nats-N.nats-headless)", v.FullnameOverride == ""},
	} {
		if !c.ok {
			t.Errorf("nats-values.yaml: want %s", c.what)
		}
	}
	versions := map[string][]string{}
	for _, f := range []string{filepath.Join(kubernetesDir, "nats-values.yaml"), filepath.Join(kubernetesDir, "README.md"), "../../README.md"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ms := helmVersion.FindAllStringSubmatch(string(b), -1)
		if len(ms) == 0 {
			t.Errorf("%s: no %q", f, "helm install nats nats/nats --version X")
		}
		for _, m := range ms {
			versions[m[1]] = append(versions[m[1]], f)
		}
	}
	if len(versions) > 1 {
		t.Errorf("the recipes pin different chart versions: %v", versions)
	}
	for ver := range versions {
		if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(ver) {
			t.Errorf("chart version %q: pin an exact version", ver)
		}
	}
}

// TestDeployKubernetesRelay: the relay Deployment runs three non-root,
// read-only pods spread over nodes whose configuration (the ConfigMap with
// the container's environment, loaded by the config package) uses the
// stream of the chart's three servers; its probes ask /readyz and /healthz
// on the metrics listener; the secret is a file client_secret_file names;
// the Service and the PodDisruptionBudget select its pods.
func TestDeployKubernetesRelay(t *testing.T) {
	objs := readManifests(t)
	var d k8sDeployment
	dep := one(t, objs, "Deployment", &d)
	pod := d.Spec.Template.Spec
	if d.Spec.Replicas != 3 {
		t.Errorf("Deployment replicas %d, want 3", d.Spec.Replicas)
	}
	if !subset(d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) || len(d.Spec.Selector.MatchLabels) == 0 {
		t.Fatalf("Deployment selector %v does not select its pods %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Containers))
	}
	c := pod.Containers[0]

	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if pod.EnableServiceLinks == nil || *pod.EnableServiceLinks {
		// What the kubelet would add for every Service of the namespace.
		for _, o := range objs {
			if o.Kind == "Service" {
				n := strings.ToUpper(strings.ReplaceAll(o.Metadata.Name, "-", "_"))
				env[n+"_SERVICE_HOST"] = "10.0.0.1"
				env[n+"_PORT"] = "tcp://10.0.0.1:25"
			}
		}
	}
	mounts := map[string]k8sVolume{}
	for _, m := range c.VolumeMounts {
		i := slices.IndexFunc(pod.Volumes, func(v k8sVolume) bool { return v.Name == m.Name })
		if i < 0 {
			t.Fatalf("volumeMount %s names no volume", m.Name)
		}
		mounts[m.MountPath] = pod.Volumes[i]
	}

	// The configuration as the container sees it.
	cfgPath := env[config.EnvConfig]
	vol, ok := mounts[path.Dir(cfgPath)]
	if !ok || vol.ConfigMap == nil {
		t.Fatalf("%s=%q is not in a mounted ConfigMap", config.EnvConfig, cfgPath)
	}
	key := path.Base(cfgPath)
	for _, it := range vol.ConfigMap.Items {
		if it.Path == key {
			key = it.Key
		}
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	cmObj := one(t, objs, "ConfigMap", &cm)
	if cmObj.Metadata.Name != vol.ConfigMap.Name || cm.Data[key] == "" {
		t.Fatalf("ConfigMap %s has no %q (the volume wants ConfigMap %s)", cmObj.Metadata.Name, key, vol.ConfigMap.Name)
	}
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, []byte(cm.Data[key]), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := loadRelayConfig(t, file, env)
	checkRelayConfig(t, cfg, []string{"nats-0.nats-headless:4222", "nats-1.nats-headless:4222", "nats-2.nats-headless:4222"})

	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	portOf := func(p any) int {
		switch p := p.(type) {
		case int:
			return p
		case string:
			return ports[p]
		}
		return 0
	}
	metrics := listenPort(t, "serve.metrics_listen", cfg.Serve.MetricsListen)
	smtpPort := listenPort(t, "serve.listen", cfg.Serve.Listen)
	for _, pc := range []struct {
		name  string
		probe *k8sProbe
		path  string
	}{
		{"readinessProbe", c.ReadinessProbe, "/readyz"},
		{"livenessProbe", c.LivenessProbe, "/healthz"},
	} {
		if pc.probe == nil || pc.probe.HTTPGet == nil {
			t.Errorf("%s: want an httpGet of %s", pc.name, pc.path)
			continue
		}
		if pc.probe.HTTPGet.Path != pc.path || portOf(pc.probe.HTTPGet.Port) != metrics {
			t.Errorf("%s: GET %s on port %v (%d), want %s on serve.metrics_listen's port %d",
				pc.name, pc.probe.HTTPGet.Path, pc.probe.HTTPGet.Port, portOf(pc.probe.HTTPGet.Port), pc.path, metrics)
		}
	}

	// The secret, as a file.
	if len(cfg.ClientSecretFiles) != 1 {
		t.Fatalf("client_secret_file %q: want one file", cfg.ClientSecretFiles)
	}
	sf := cfg.ClientSecretFiles[0]
	sv, ok := mounts[path.Dir(sf)]
	if !ok || sv.Secret == nil || sv.Secret.SecretName == "" {
		t.Errorf("client_secret_file %s is not in a mounted Secret", sf)
	} else {
		if !slices.ContainsFunc(sv.Secret.Items, func(it struct {
			Key  string `yaml:"key"`
			Path string `yaml:"path"`
		}) bool {
			return it.Path == path.Base(sf)
		}) {
			t.Errorf("Secret %s puts no item at %s", sv.Secret.SecretName, path.Base(sf))
		}
		if m := sv.Secret.DefaultMode; m == nil || *m&0o004 != 0 {
			t.Errorf("Secret defaultMode %v: the secret file should not be world-readable (graphmail warns)", m)
		}
	}

	// Security and storage.
	sc := c.SecurityContext
	nonRoot := pod.SecurityContext.RunAsNonRoot != nil && *pod.SecurityContext.RunAsNonRoot ||
		sc != nil && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot
	if !nonRoot {
		t.Error("securityContext: want runAsNonRoot: true")
	}
	if sc == nil || !sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("container securityContext %+v: want readOnlyRootFilesystem, allowPrivilegeEscalation: false, drop ALL", sc)
	}
	for key, p := range map[string]string{"spool.dir": cfg.Spool.Dir, "token_cache.path": cfg.TokenCache.Path} {
		found := false
		for dir, v := range mounts {
			if under(p, dir) && v.EmptyDir != nil && v.EmptyDir.Medium != "Memory" {
				found = true
			}
		}
		if !found {
			t.Errorf("%s %s is not on a disk-backed emptyDir (the root file system is read-only)", key, p)
		}
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		t.Errorf("resources %+v: want cpu and memory requests and a memory limit", c.Resources)
	}
	spread := pod.Affinity != nil
	for _, tsc := range pod.TopologySpreadConstraints {
		if tsc.TopologyKey == "kubernetes.io/hostname" && subset(tsc.LabelSelector.MatchLabels, d.Spec.Template.Metadata.Labels) {
			spread = true
		}
	}
	if !spread {
		t.Error("no topology spread over kubernetes.io/hostname (or affinity): three relays could share one node")
	}
	grace, preStop := 30, 0 // Kubernetes' default grace
	if g := pod.TerminationGracePeriodSeconds; g != nil {
		grace = *g
	}
	if l := c.Lifecycle; l != nil && l.PreStop != nil && l.PreStop.Sleep != nil {
		preStop = l.PreStop.Sleep.Seconds
	}
	if grace < preStop+relayShutdown {
		t.Errorf("terminationGracePeriodSeconds %d < preStop %d s + serve's shutdown %d s", grace, preStop, relayShutdown)
	}

	// The Service for SMTP clients.
	var smtpSvc *k8sService
	for _, o := range objs {
		if o.Kind != "Service" {
			continue
		}
		var s k8sService
		if err := o.node.Decode(&s); err != nil {
			t.Fatal(err)
		}
		if !subset(s.Spec.Selector, d.Spec.Template.Metadata.Labels) || len(s.Spec.Selector) == 0 {
			t.Errorf("Service %s selects %v, not the relay pods %v", o.Metadata.Name, s.Spec.Selector, d.Spec.Template.Metadata.Labels)
		}
		if slices.ContainsFunc(s.Spec.Ports, func(p struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort any    `yaml:"targetPort"`
		}) bool {
			return p.Port == 25
		}) {
			smtpSvc = &s
		}
	}
	if smtpSvc == nil {
		t.Fatal("no Service offers port 25")
	}
	for _, want := range []int{25, 587} {
		i := slices.IndexFunc(smtpSvc.Spec.Ports, func(p struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort any    `yaml:"targetPort"`
		}) bool {
			return p.Port == want
		})
		if i < 0 {
			t.Errorf("SMTP Service: no port %d", want)
		} else if got := portOf(smtpSvc.Spec.Ports[i].TargetPort); got != smtpPort {
			t.Errorf("SMTP Service port %d targets %d, serve.listen is on %d", want, got, smtpPort)
		}
	}
	if smtpSvc.Spec.Type == "LoadBalancer" && smtpSvc.Spec.ExternalTrafficPolicy != "Local" && !cfg.Serve.ProxyProtocol {
		t.Error("the LoadBalancer Service hides client addresses: set externalTrafficPolicy: Local or serve.proxy_protocol")
	}

	// The PodDisruptionBudget.
	var pdb k8sPDB
	one(t, objs, "PodDisruptionBudget", &pdb)
	if !subset(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) || len(pdb.Spec.Selector.MatchLabels) == 0 {
		t.Errorf("PodDisruptionBudget selects %v, not the pods of Deployment %s %v", pdb.Spec.Selector.MatchLabels, dep.Metadata.Name, d.Spec.Template.Metadata.Labels)
	}
	minOK := pdb.Spec.MinAvailable == 2 || pdb.Spec.MinAvailable == nil
	maxOK := pdb.Spec.MaxUnavailable == 1 || pdb.Spec.MaxUnavailable == nil
	if !minOK || !maxOK || (pdb.Spec.MinAvailable == nil) == (pdb.Spec.MaxUnavailable == nil) {
		t.Errorf("PodDisruptionBudget minAvailable %v, maxUnavailable %v: want minAvailable: 2 or maxUnavailable: 1", pdb.Spec.MinAvailable, pdb.Spec.MaxUnavailable)
	}
}

// subset reports whether every label of sel is in labels.
func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}
