#!/bin/sh
# Starts Mosquitto for Galvani inside the eclipse-mosquitto container (docker-compose.yml runs it as root).
#
# The broker's password file is made of two parts: the gateway's user, from GALVANI_GATEWAY_MQTT_PASSWORD,
# and one user per device, which the gateway keeps in the devices file on a volume both containers share.
# When the gateway changes the devices file (a device registered, given a new password or revoked), this
# script puts the password file together again and sends the broker SIGHUP, which makes it read the file
# again without dropping anyone who is connected.
#
# The paths can be changed through the environment; the tests run this script with a Mosquitto of their own.
set -eu

config=${MOSQUITTO_CONFIG:-/mosquitto/config/mosquitto.conf}
password_file=${MOSQUITTO_PASSWORD_FILE:-/mosquitto/data/passwd}
devices_file=${GALVANI_DEVICE_USERS_FILE:-/mosquitto/users/devices.passwd}
broker_user=${MOSQUITTO_USER:-mosquitto}  # the user the broker switches to, which must read the file
check_every_s=${CHECK_EVERY_S:-2}

gateway_user=$(mktemp)
trap 'rm -f "$gateway_user"' EXIT
mosquitto_passwd -c -b "$gateway_user" galvani-gateway "$GALVANI_GATEWAY_MQTT_PASSWORD"

devices_version() {
    if [ -f "$devices_file" ]; then cksum < "$devices_file"; else echo none; fi
}

write_password_file() {
    {
        cat "$gateway_user"
        if [ -f "$devices_file" ]; then cat "$devices_file"; fi
    } > "$password_file.new"
    chmod 0600 "$password_file.new"
    chown "$broker_user" "$password_file.new"
    mv -f "$password_file.new" "$password_file"
}

seen=$(devices_version)
write_password_file
mosquitto -c "$config" &
broker=$!
trap 'kill -TERM "$broker" 2>/dev/null || true' TERM INT

while kill -0 "$broker" 2>/dev/null; do
    sleep "$check_every_s" &
    wait $! || true  # a TERM ends the wait at once; the loop then sees the broker gone
    now=$(devices_version)
    if [ "$now" != "$seen" ]; then
        seen=$now
        write_password_file
        kill -HUP "$broker" 2>/dev/null || true
        echo "run.sh: device users changed; the broker reads its password file again"
    fi
done
wait "$broker"
