// Package provider maps terraform-provider-libvirt onto the Pulumi package "libvirt" with the tokens
// that the pulumi-libvirt Python SDK uses.
package provider

import (
	"os"

	"github.com/dmacvicar/terraform-provider-libvirt/libvirt"
	"github.com/hashicorp/terraform-plugin-sdk/v2/helper/schema"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"

	"fleet.local/engine/pulumi-resource-libvirt/version"
)

func resourceToken(name string) tokens.Type {
	return tokens.Type("libvirt:index/" + string(name[0]+'a'-'A') + name[1:] + ":" + name)
}

func functionToken(name string) tokens.ModuleMember {
	return tokens.ModuleMember("libvirt:index/" + name + ":" + name)
}

// upstream is terraform-provider-libvirt with our fixes: bounded calls (bounded.go) and a Domain
// that copes with hosts people also touch by hand (domain.go).
func upstream() *schema.Provider {
	p := libvirt.Provider()
	hardenDomain(p.ResourcesMap["libvirt_domain"])
	boundProvider(p)
	return p
}

// Provider describes the bridged provider.
func Provider() tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:           shimv2.NewProvider(upstream()),
		Name:        "libvirt",
		Version:     version.Version,
		Description: "A Pulumi package for creating and managing libvirt resources.",
		Keywords:    []string{"pulumi", "libvirt"},
		License:     "Apache-2.0",
		Homepage:    "https://pulumi.io",
		Repository:  "https://github.com/pulumi/pulumi-libvirt",
		GitHubOrg:   "dmacvicar",
		// Where tfgen reads the upstream docs (descriptions in the schema); unused at run time.
		UpstreamRepoPath: os.Getenv("FLEET_LIBVIRT_UPSTREAM_DIR"),
		Config: map[string]*tfbridge.SchemaInfo{
			"uri": {Default: &tfbridge.DefaultInfo{EnvVars: []string{"LIBVIRT_DEFAULT_URI"}}},
		},
		Resources: map[string]*tfbridge.ResourceInfo{
			"libvirt_cloudinit_disk": {Tok: resourceToken("CloudInitDisk")},
			"libvirt_combustion":     {Tok: resourceToken("Combustion")},
			"libvirt_domain":         {Tok: resourceToken("Domain")},
			"libvirt_ignition":       {Tok: resourceToken("Ignition")},
			"libvirt_network":        {Tok: resourceToken("Network")},
			"libvirt_pool":           {Tok: resourceToken("Pool")},
			"libvirt_volume":         {Tok: resourceToken("Volume")},
		},
		DataSources: map[string]*tfbridge.DataSourceInfo{
			"libvirt_network_dns_host_template":        {Tok: functionToken("getNetworkDnsHostTemplate")},
			"libvirt_network_dns_srv_template":         {Tok: functionToken("getNetworkDnsSrvTemplate")},
			"libvirt_network_dnsmasq_options_template": {Tok: functionToken("getNetworkDnsmasqOptionsTemplate")},
			"libvirt_node_info":                        {Tok: functionToken("getNodeInfo")},
			"libvirt_node_device_info":                 {Tok: functionToken("getNodeDeviceInfo")},
			"libvirt_node_devices":                     {Tok: functionToken("getNodeDevices")},
		},
	}
	info.SetAutonaming(255, "-")
	return info
}
