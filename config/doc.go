// Package config turns graphmail's configuration — flags, environment,
// a configuration file and defaults — into a plain, validated Config.
//
// It is the only package that imports viper; everything else takes a
// *Config.
//
// # Sources
//
// Each key takes the first value found in, highest first:
//
//  1. Options.Overrides, the command-line flags ("flag").
//  2. GRAPHMAIL_* environment variables ("env"): the key upper-cased with
//     "." replaced by "_", so smtp.host is GRAPHMAIL_SMTP_HOST and
//     tenant_id is GRAPHMAIL_TENANT_ID (see EnvName). Empty variables count
//     as unset.
//  3. The configuration file ("file"): Options.ConfigFile, else the file
//     named by GRAPHMAIL_CONFIG, else the first existing file of
//     Options.SearchPaths (DefaultSearchPaths: ./graphmail.yaml,
//     $XDG_CONFIG_HOME/graphmail/config.yaml, /etc/graphmail/config.yaml).
//     The extension picks the format: .yaml, .yml (and no extension), .toml
//     or .json. Keys are case-insensitive; nested tables and dotted keys
//     ("smtp.host: x") are equivalent. Relative paths in the file
//     (client_secret_file, client_certificate, ca_file, token_cache.path)
//     are relative to the file's directory.
//  4. The azidentity variables ("azure-env"): AZURE_TENANT_ID,
//     AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH,
//     AZURE_CLIENT_CERTIFICATE_PASSWORD and AZURE_AUTHORITY_HOST. When a
//     credential (client_secret, client_secret_file or client_certificate)
//     comes from a higher source, the AZURE_* credential variables are
//     ignored, so ambient azidentity settings never clash with graphmail's.
//  5. Built-in defaults ("default"), several chosen by cloud.
//
// Config.Sources records the source of every key.
//
// # How precedence is implemented
//
// Viper parses the file (viper.New per Load, ReadConfig with the type taken
// from the extension) and gives a case-insensitive, flattened view of it,
// which is also how unknown keys are found. Viper's own environment and
// flag layers are not used: viper reads the process environment directly,
// and viper only knows keys it has been told about (env-only values vanish
// unless every key is bound). Instead Load walks a fixed table of keys and,
// for each, asks the five sources above in order through
// Options.LookupEnv. Every key is therefore looked up in the environment
// whether or not a file exists, tests can inject the environment, and the
// value and its recorded source cannot disagree.
//
// # Keys
//
//	tenant_id                    GUID or verified domain; not common/organizations/consumers
//	client_id                    GUID
//	client_secret                secret value (never printed)
//	client_secret_file           file holding the secret; white space around it is removed
//	client_certificate           PEM (certificate and key) or .pfx/.p12 file
//	client_certificate_password  password of a .pfx/.p12 (never printed)
//	cloud                        global (default) | usgov | usgovdod | china
//	authority_host               https://host; default from cloud
//	graph_endpoint               https URL (http on localhost/127.0.0.1/::1); default from cloud
//	graph_scope                  .default scope for Graph; default from cloud
//	instance_discovery           bool, default true
//	ca_file                      PEM bundle of extra roots
//	sender                       address of the sending mailbox
//	save_to_sent_items           bool, default true
//	smtp.host                    default from cloud
//	smtp.port                    default 587
//	smtp.fallback                auto (default) | never | only
//	smtp.scope                   .default scope for SMTP; default from cloud
//	token_cache.path             "" = default location, "none" = no cache
//	token_cache.key_file         delegated: cache key file; default in the config directory
//	delegated.user               delegated: the account to use (UPN), login hint
//	log.level                    debug | info (default) | warn | error
//	log.format                   text (default) | json
//	log.recipients               bool, default false
//
// # Validation
//
// Load checks everything before any network call and returns Errors, one
// *Error per problem, each naming the key, what is wrong and how to fix it.
// Unknown keys in the file, unknown GRAPHMAIL_* variables (other than
// GRAPHMAIL_CONFIG) and unknown override keys are errors, with the nearest
// valid name suggested. With Options.RequireCredentials, Load also insists
// on tenant_id, client_id, sender and exactly one credential, reads
// client_secret_file, and checks that client_certificate exists and that
// ca_file holds PEM certificates. Load does not check the permissions of the
// secret file; group- or world-readable files are accepted.
//
// # Secrets
//
// client_secret and client_certificate_password are of type Secret, which
// prints as "[redacted]" (or "" when empty) through fmt, encoding/json,
// encoding.TextMarshaler and log/slog. Error messages never contain a
// configured value of any key, because a secret pasted into the wrong key
// would otherwise leak.
package config
