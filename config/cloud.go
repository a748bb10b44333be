package config

// cloudDef holds the endpoints of one Microsoft 365 cloud.
type cloudDef struct {
	authorityHost string
	graphEndpoint string
	graphScope    string
	smtpHost      string
	smtpScope     string
}

// Cloud is a Microsoft 365 cloud, the value of the cloud key.
type Cloud string

// The clouds graphmail knows.
const (
	CloudGlobal   Cloud = "global"   // commercial and GCC tenants
	CloudUSGov    Cloud = "usgov"    // GCC High
	CloudUSGovDoD Cloud = "usgovdod" // DoD
	CloudChina    Cloud = "china"    // operated by 21Vianet
)

// clouds maps each cloud to its endpoints.
var clouds = map[Cloud]cloudDef{
	CloudGlobal: {
		authorityHost: "https://login.microsoftonline.com",
		graphEndpoint: "https://graph.microsoft.com",
		graphScope:    "https://graph.microsoft.com/.default",
		smtpHost:      "smtp.office365.com",
		smtpScope:     "https://outlook.office365.com/.default",
	},
	CloudUSGov: {
		authorityHost: "https://login.microsoftonline.us",
		graphEndpoint: "https://graph.microsoft.us",
		graphScope:    "https://graph.microsoft.us/.default",
		smtpHost:      "smtp.office365.us",
		smtpScope:     "https://outlook.office365.us/.default",
	},
	CloudUSGovDoD: {
		authorityHost: "https://login.microsoftonline.us",
		graphEndpoint: "https://dod-graph.microsoft.us",
		graphScope:    "https://dod-graph.microsoft.us/.default",
		smtpHost:      "smtp.office365.us",
		smtpScope:     "https://outlook-dod.office365.us/.default",
	},
	CloudChina: {
		authorityHost: "https://login.chinacloudapi.cn",
		graphEndpoint: "https://microsoftgraph.chinacloudapi.cn",
		graphScope:    "https://microsoftgraph.chinacloudapi.cn/.default",
		smtpHost:      "smtp.partner.outlook.cn",
		smtpScope:     "https://partner.outlook.cn/.default",
	},
}
