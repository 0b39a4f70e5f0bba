"""The XSLT that attaches each VM interface to its segment's nwfilter.

pulumi-libvirt has no filterref argument, but it passes the domain XML through `xml.xslt` before
defining it. The stylesheet matches interfaces by network name, so it depends only on which segments
the VM is on (a change to it replaces the domain); rule changes go to the filter itself.
Network and filter names are built from validated names (letters, digits, '-'), so they need no
escaping inside the stylesheet.
"""

from __future__ import annotations

from collections.abc import Mapping

_HEADER = """<?xml version="1.0"?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output omit-xml-declaration="yes" indent="yes"/>
  <xsl:template match="node()|@*">
    <xsl:copy><xsl:apply-templates select="node()|@*"/></xsl:copy>
  </xsl:template>
"""

_INTERFACE = """  <xsl:template match="/domain/devices/interface[source/@network='{network}']">
    <xsl:copy>
      <xsl:apply-templates select="node()|@*"/>
      <filterref filter="{filter}"/>
    </xsl:copy>
  </xsl:template>
"""


def filter_stylesheet(filters_by_network: Mapping[str, str]) -> str:
    """XSLT adding `<filterref filter=...>` to every interface on a filtered network."""
    templates = "".join(
        _INTERFACE.format(network=network, filter=name) for network, name in sorted(filters_by_network.items())
    )
    return _HEADER + templates + "</xsl:stylesheet>\n"
