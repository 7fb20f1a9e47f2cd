#!/usr/bin/env bash
# make package: for every supported PostgreSQL major (or those PG names), a
# release build archived in dist/ as export_system-<version>-pg<major>-<arch>-linux-gnu.tar.gz
# (the .so, the control file, every install and update script, install.sh)
# with its .sha256, and postgresql-<major>-export-system_<version>_<arch>.deb.
# scripts/test.sh builds the same packages and tests them.
source "$(dirname "$0")/common.sh"

if ((${#PG_MAJORS[@]})); then majors=("${PG_MAJORS[@]}"); else majors=("${SUPPORTED_PG_MAJORS[@]}"); fi
install_dependencies "${majors[@]}"
archives=()
for major in "${majors[@]}"; do
    archives+=("$(build_package "$major")")
done
log "packages"
for archive in "${archives[@]}"; do
    printf '  %s  %8d bytes  sha256 %s\n' "${archive#"$REPO_ROOT"/}" "$(stat -c %s "$archive")" \
        "$(cut -d' ' -f1 "$archive.sha256")"
done
for major in "${majors[@]}"; do
    deb=$(deb_path "$major")
    printf '  %s  %8d bytes\n' "${deb#"$REPO_ROOT"/}" "$(stat -c %s "$deb")"
done
