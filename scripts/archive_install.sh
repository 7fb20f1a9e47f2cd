#!/bin/sh
# Installs export_system @VERSION@ for PostgreSQL @MAJOR@ (this archive) into
# the installation that a pg_config describes.
#
#   sudo ./install.sh [/path/to/pg_config]     (default: pg_config on PATH)
#
# Copies lib/export_system.so into `pg_config --pkglibdir` and share/extension/*
# into `pg_config --sharedir`/extension. The library is replaced, not written
# over, so backends that have the old one loaded keep running.
set -eu
MAJOR=@MAJOR@
VERSION=@VERSION@
SUPPORTED="@SUPPORTED@"
here=$(cd "$(dirname "$0")" && pwd)
pg_config=${1:-pg_config}

if ! server=$("$pg_config" --version 2>/dev/null); then
    echo "export_system: cannot run '$pg_config'; give the pg_config of your PostgreSQL: $0 /path/to/pg_config" >&2
    exit 1
fi
major=$(echo "$server" | sed -n 's/^PostgreSQL \([0-9][0-9]*\).*/\1/p')
if [ "$major" != "$MAJOR" ]; then
    echo "export_system: this archive is for PostgreSQL $MAJOR, but $pg_config is $server." >&2
    case " $SUPPORTED " in
        *" $major "*) echo "Install export_system-$VERSION-pg$major-<architecture>.tar.gz instead." >&2 ;;
        *) echo "export_system supports PostgreSQL $(echo "$SUPPORTED" | sed 's/ /, /g') only." >&2 ;;
    esac
    exit 1
fi

pkglibdir=$("$pg_config" --pkglibdir)
extension_dir=$("$pg_config" --sharedir)/extension
install -d "$pkglibdir" "$extension_dir"
install -m 755 "$here/lib/export_system.so" "$pkglibdir/export_system.so"
install -m 644 "$here"/share/extension/* "$extension_dir/"
echo "export_system $VERSION installed for $server:"
echo "  $pkglibdir/export_system.so"
for file in "$here"/share/extension/*; do echo "  $extension_dir/$(basename "$file")"; done
echo "Next, as a superuser in your database: CREATE EXTENSION export_system;"
echo "(Background exports: add export_system to shared_preload_libraries and restart.)"
