// Package provider maps bpg's terraform-provider-proxmox onto the Pulumi package "proxmoxve" with the
// tokens that the pulumi-proxmoxve Python SDK uses.
//
// bpg's provider is two providers in one: the older resources are an SDKv2 provider, the newer ones a
// plugin-framework provider. The bridge's PF muxer serves both as one Pulumi provider; which of the two
// answers each resource is a table the schema generator computes and writes to bridge-metadata.json,
// which the provider binary embeds (scripts/engine.sh copies it here between the two builds).
package provider

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/bpg/terraform-provider-proxmox/fwprovider"
	sdkprovider "github.com/bpg/terraform-provider-proxmox/proxmoxtf/provider"
	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"fleet.local/engine/pulumi-resource-proxmoxve/version"
)

const pkg = "proxmoxve"

//go:embed bridge-metadata.json
var bridgeMetadata []byte

// tokenParts gives the Pulumi module and member name of a Terraform type name, by the rule of the
// pulumi-proxmoxve SDKs:
//
//	proxmox_X                      -> X        (bpg's current names)
//	proxmox_virtual_environment_X  -> XLegacy  (the older names, some deprecated twins of an X, some still current)
//
// The last segment of X names the member; the segments before it form the module path, "index" when
// there are none: proxmox_virtual_environment_vm -> (index, VmLegacy); proxmox_sdn_zone_simple ->
// (sdn/zone, Simple); proxmox_virtual_environment_firewall_ipset -> (firewall, IpsetLegacy).
func tokenParts(tfName string) (module, member string, err error) {
	rest, legacy := strings.CutPrefix(tfName, "proxmox_virtual_environment_")
	if !legacy {
		var ok bool
		if rest, ok = strings.CutPrefix(tfName, "proxmox_"); !ok {
			return "", "", fmt.Errorf("%q does not start with proxmox_", tfName)
		}
	}
	segments := strings.Split(rest, "_")
	module, member = "index", segments[len(segments)-1]
	if len(segments) > 1 {
		module = strings.Join(segments[:len(segments)-1], "/")
	}
	if member == "" || module == "" || isDigit(member[0]) || isDigit(module[0]) {
		return "", "", fmt.Errorf("%q does not split into a module and a name", tfName)
	}
	member = strings.ToUpper(member[:1]) + member[1:]
	if legacy {
		member += "Legacy"
	}
	return module, member, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

var tokenStrategy = tfbridge.Strategy{
	Resource: func(tfName string, r *tfbridge.ResourceInfo) error {
		if r.Tok == "" {
			module, member, err := tokenParts(tfName)
			if err != nil {
				return err
			}
			r.Tok = tfbridge.MakeResource(pkg, module, member)
		}
		return nil
	},
	DataSource: func(tfName string, d *tfbridge.DataSourceInfo) error {
		if d.Tok == "" {
			module, member, err := tokenParts(tfName)
			if err != nil {
				return err
			}
			d.Tok = tfbridge.MakeDataSource(pkg, module, "get"+member)
		}
		return nil
	},
}

// renamedID lists the resources whose Terraform attribute "id" is a field of their own (a VM id, a
// zone or storage name, a job id): Pulumi reserves "id", so the SDK calls it resource_id (resourceId),
// typed as a string. Each current name maps to its legacy twin (proxmox_virtual_environment_...), which
// gets the same rename, and which the current resource lists as an alias in the schema, as upstream's
// does ("" when there is none).
var renamedID = map[string]string{
	"proxmox_backup_job":            "",
	"proxmox_cloned_vm":             "proxmox_virtual_environment_cloned_vm",
	"proxmox_replication":           "proxmox_virtual_environment_replication",
	"proxmox_sdn_fabric_openfabric": "proxmox_virtual_environment_sdn_fabric_openfabric",
	"proxmox_sdn_fabric_ospf":       "proxmox_virtual_environment_sdn_fabric_ospf",
	"proxmox_sdn_vnet":              "proxmox_virtual_environment_sdn_vnet",
	"proxmox_sdn_zone_evpn":         "proxmox_virtual_environment_sdn_zone_evpn",
	"proxmox_sdn_zone_qinq":         "proxmox_virtual_environment_sdn_zone_qinq",
	"proxmox_sdn_zone_simple":       "proxmox_virtual_environment_sdn_zone_simple",
	"proxmox_sdn_zone_vlan":         "proxmox_virtual_environment_sdn_zone_vlan",
	"proxmox_sdn_zone_vxlan":        "proxmox_virtual_environment_sdn_zone_vxlan",
	"proxmox_storage_cifs":          "proxmox_virtual_environment_storage_cifs",
	"proxmox_storage_directory":     "proxmox_virtual_environment_storage_directory",
	"proxmox_storage_lvm":           "proxmox_virtual_environment_storage_lvm",
	"proxmox_storage_lvmthin":       "proxmox_virtual_environment_storage_lvmthin",
	"proxmox_storage_nfs":           "proxmox_virtual_environment_storage_nfs",
	"proxmox_storage_pbs":           "proxmox_virtual_environment_storage_pbs",
	"proxmox_storage_zfspool":       "proxmox_virtual_environment_storage_zfspool",
	"proxmox_vm":                    "proxmox_virtual_environment_vm2",
}

func withResourceID() *tfbridge.ResourceInfo {
	return &tfbridge.ResourceInfo{
		Fields:    map[string]*tfbridge.SchemaInfo{"id": {Name: "resourceId", Type: "string"}},
		ComputeID: idFromResourceID,
	}
}

// idFromResourceID is the Pulumi id of a resource whose "id" became resourceId: that field's value,
// a string or a number (a VM id).
func idFromResourceID(_ context.Context, state resource.PropertyMap) (resource.ID, error) {
	value, ok := state["resourceId"]
	if ok && value.IsSecret() {
		value = value.SecretValue().Element
	}
	switch {
	case ok && value.IsString() && value.StringValue() != "":
		return resource.ID(value.StringValue()), nil
	case ok && value.IsNumber():
		return resource.ID(strconv.FormatFloat(value.NumberValue(), 'f', -1, 64)), nil
	}
	return "", fmt.Errorf("the provider returned no resourceId for this resource, so it has no id")
}

// Provider describes the bridged provider.
func Provider() tfbridge.ProviderInfo {
	ctx := context.Background()
	muxed := pftfbridge.MuxShimWithPF(ctx,
		shimv2.NewProvider(sdkprovider.ProxmoxVirtualEnvironment()),
		fwprovider.New(version.Version)())
	resources := map[string]*tfbridge.ResourceInfo{}
	for name, legacy := range renamedID {
		resources[name] = withResourceID()
		if legacy != "" {
			resources[legacy] = withResourceID()
			resources[name].Aliases = []tfbridge.AliasInfo{{Type: &legacy}}
		}
	}
	info := tfbridge.ProviderInfo{
		P:           muxed,
		Name:        "proxmox", // the Terraform provider's name; the Pulumi package is "proxmoxve"
		Version:     version.Version,
		Description: "A Pulumi package for creating and managing Proxmox Virtual Environment cloud resources.",
		Keywords:    []string{"proxmox", "proxmoxve", "category/infrastructure"},
		License:     "Apache-2.0",
		Homepage:    "https://github.com/muhlba91/pulumi-proxmoxve",
		Repository:  "https://github.com/muhlba91/pulumi-proxmoxve",
		GitHubOrg:   "bpg",
		// Where tfgen reads the upstream docs (descriptions in the schema); unused at run time.
		UpstreamRepoPath: os.Getenv("FLEET_PROXMOXVE_UPSTREAM_DIR"),
		Config:           map[string]*tfbridge.SchemaInfo{},
		Resources:        resources,
		DataSources:      map[string]*tfbridge.DataSourceInfo{},
		MetadataInfo:     tfbridge.NewProviderMetadata(bridgeMetadata),
	}
	info.MustComputeTokens(tokenStrategy)
	info.SetAutonaming(255, "-")
	return info
}
