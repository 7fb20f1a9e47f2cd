#!/bin/sh
# Installs export_system @VERSION@ for PostgreSQL @MAJOR@ (this archive).
#
#   ./install.sh [--libdir DIR] [--prefix DIR] [/path/to/pg_config]
#
# pg_config (default: the one on PATH) names the PostgreSQL it is for.
#   (default)       library into the server's library directory, scripts into
#                   `pg_config --sharedir`/extension. A server whose `postgres`
#                   is a Nix wrapper redirecting $libdir (NIX_PGLIBDIR, as in
#                   Supabase's image) gets the library where the wrapper
#                   points, since that is where $libdir resolves.
#   --libdir DIR    the library into DIR instead.
#   --prefix DIR    PostgreSQL 18 and later: everything under DIR (DIR/lib,
#                   DIR/share/extension), nothing into the server's
#                   installation; load it with extension_control_path and
#                   dynamic_library_path (printed at the end).
# The library is replaced, not written over, so backends that have the old
# one loaded keep running.
set -eu
MAJOR=@MAJOR@
VERSION=@VERSION@
SUPPORTED="@SUPPORTED@"
here=$(cd "$(dirname "$0")" && pwd)

usage() {
    echo "usage: $0 [--libdir DIR] [--prefix DIR] [/path/to/pg_config]" >&2
    exit 2
}

pg_config=pg_config libdir='' prefix=''
while [ $# -gt 0 ]; do
    case $1 in
        --libdir) [ $# -ge 2 ] || usage; libdir=$2; shift 2 ;;
        --libdir=*) libdir=${1#--libdir=}; shift ;;
        --prefix) [ $# -ge 2 ] || usage; prefix=$2; shift 2 ;;
        --prefix=*) prefix=${1#--prefix=}; shift ;;
        -h | --help) usage ;;
        -*) echo "export_system: unknown option $1" >&2; usage ;;
        *) pg_config=$1; shift ;;
    esac
done
if [ -n "$libdir" ] && [ -n "$prefix" ]; then
    echo "export_system: give --libdir or --prefix, not both" >&2
    exit 2
fi

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

# The library directory a Nix wrapper around `postgres` points $libdir to:
# the value its script exports as NIX_PGLIBDIR (quoted or not), if any.
wrapped_libdir() {
    wrapper=$("$pg_config" --bindir)/postgres
    [ -f "$wrapper" ] && head -c 2 "$wrapper" | grep -q '^#!' || return 0
    sed -n "s/^[[:space:]]*\(export[[:space:]]\{1,\}\)\{0,1\}NIX_PGLIBDIR=['\"]\{0,1\}\([^'\"]*\)['\"]\{0,1\}[[:space:]]*$/\2/p" \
        "$wrapper" | tail -n 1
}

if [ -n "$prefix" ]; then
    if [ "$major" -lt 18 ]; then
        echo "export_system: --prefix needs PostgreSQL 18 or later (extension_control_path); $pg_config is $server." >&2
        echo "Use --libdir DIR for the library only, or install into the server's directories." >&2
        exit 1
    fi
    case $prefix in /*) ;; *) prefix=$(pwd)/$prefix ;; esac
    libdir=$prefix/lib
    extension_dir=$prefix/share/extension
else
    extension_dir=$("$pg_config" --sharedir)/extension
    if [ -z "$libdir" ]; then
        libdir=$(wrapped_libdir)
        if [ -n "$libdir" ]; then
            echo "export_system: $("$pg_config" --bindir)/postgres is a wrapper setting NIX_PGLIBDIR: the library goes to $libdir"
        else
            libdir=$("$pg_config" --pkglibdir)
        fi
    fi
fi

install -d "$libdir" "$extension_dir"
install -m 755 "$here/lib/export_system.so" "$libdir/export_system.so"
install -m 644 "$here"/share/extension/* "$extension_dir/"
echo "export_system $VERSION installed for $server:"
echo "  $libdir/export_system.so"
for file in "$here"/share/extension/*; do echo "  $extension_dir/$(basename "$file")"; done
if [ -n "$prefix" ]; then
    echo "Add to postgresql.conf (and restart, or reload for CREATE EXTENSION alone):"
    echo "  extension_control_path = '$prefix/share:\$system'"
    echo "  dynamic_library_path = '$prefix/lib:\$libdir'"
fi
echo "Next, as a superuser in your database: CREATE EXTENSION export_system;"
echo "(Background exports: add export_system to shared_preload_libraries and restart.)"
