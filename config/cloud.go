package config

// cloudDef holds the endpoints of one Microsoft 365 cloud.
type cloudDef struct {
	authorityHost string
	graphEndpoint string
	graphScope    string
	smtpHost      string
	smtpScope     string
}

// cloudNames lists the valid values of the cloud key, in documentation order.
var cloudNames = []string{"global", "usgov", "usgovdod", "china"}

// clouds maps each cloud name to its endpoints.
var clouds = map[string]cloudDef{
	"global": {
		authorityHost: "https://login.microsoftonline.com",
		graphEndpoint: "https://graph.microsoft.com",
		graphScope:    "https://graph.microsoft.com/.default",
		smtpHost:      "smtp.office365.com",
		smtpScope:     "https://outlook.office365.com/.default",
	},
	"usgov": { // GCC High
		authorityHost: "https://login.microsoftonline.us",
		graphEndpoint: "https://graph.microsoft.us",
		graphScope:    "https://graph.microsoft.us/.default",
		smtpHost:      "smtp.office365.us",
		smtpScope:     "https://outlook.office365.us/.default",
	},
	"usgovdod": {
		authorityHost: "https://login.microsoftonline.us",
		graphEndpoint: "https://dod-graph.microsoft.us",
		graphScope:    "https://dod-graph.microsoft.us/.default",
		smtpHost:      "smtp.office365.us",
		smtpScope:     "https://outlook-dod.office365.us/.default",
	},
	"china": { // operated by 21Vianet
		authorityHost: "https://login.chinacloudapi.cn",
		graphEndpoint: "https://microsoftgraph.chinacloudapi.cn",
		graphScope:    "https://microsoftgraph.chinacloudapi.cn/.default",
		smtpHost:      "smtp.partner.outlook.cn",
		smtpScope:     "https://partner.outlook.cn/.default",
	},
}

// defaults returns the built-in default of every key for a cloud. Keys
// without a default (tenant_id, sender, …) map to "".
func defaults(cloud string) map[string]any {
	c, ok := clouds[cloud]
	if !ok {
		c = clouds["global"]
	}
	return map[string]any{
		"cloud":                        "global",
		"authority_host":               c.authorityHost,
		"graph_endpoint":               c.graphEndpoint,
		"graph_scope":                  c.graphScope,
		"instance_discovery":           true,
		"save_to_sent_items":           true,
		"smtp.host":                    c.smtpHost,
		"smtp.port":                    587,
		"smtp.fallback":                "auto",
		"smtp.scope":                   c.smtpScope,
		"smtp.max_message_size":        "35MB",
		"large_messages":               "",
		"limits.messages_per_minute":   30,
		"retry.max_attempts":           4,
		"retry.max_elapsed":            "2m",
		"serve.listen":                 "127.0.0.1:2525",
		"serve.allow_nets":             []string{"127.0.0.0/8", "::1/128"},
		"serve.max_message_size":       "35MB",
		"serve.max_recipients":         500,
		"serve.messages_per_minute":    0,
		"serve.connections_per_minute": 0,
		"spool.max_age":                "120h",
		"spool.retry_interval":         "1m",
		"spool.workers":                4,
		"spool.keep_done":              false,
		"sendmail.spool":               false,
		"log.level":                    "info",
		"log.format":                   "text",
		"log.recipients":               false,
	}
}
