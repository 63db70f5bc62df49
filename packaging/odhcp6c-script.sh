# mapmint: a MAP-E/MAP-T CE from odhcp6c's S46 strings (OpenWrt). odhcp6c runs one script
# (-s SCRIPT) with the interface and a state, and hands it MAPE=, MAPT=, LW4O6= and
# PREFIXES=; ask for the options with -r94,95,96. Call this from that script with its state:
#   . /usr/share/mapmint/odhcp6c-script.sh "$2"
. /usr/share/mapmint/lease.sh
case "$1" in
bound | updated | rebound | ra-updated) mapmint_lease bound ;;
unbound | stopped) mapmint_lease gone ;;
esac
