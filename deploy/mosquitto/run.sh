#!/bin/sh
# Starts Mosquitto for Galvani inside the eclipse-mosquitto container (docker-compose.yml runs it as root).
#
# The broker's password file is made of two parts: our own users, and one user per device, which the gateway
# keeps in the devices file on a volume both containers share. Our own users are one per gateway, named in
# GALVANI_GATEWAY_USERS (each gateway's GALVANI_GATEWAY_ID: the broker takes a username as the client id, so
# gateways sharing a user would push each other off), and galvani-healthcheck for the health check in
# docker-compose.yml. They all have the password GALVANI_GATEWAY_MQTT_PASSWORD: the gateways run on one server
# from one .env, so a password each would keep no secret from the other, and one password is one to rotate.
# When the gateway changes the devices file (a device registered, given a new password or revoked), this
# script puts the password file together again and sends the broker SIGHUP, which makes it read the file
# again without dropping anyone who is connected.
#
#
# TLS: the broker's certificate and key, and the clinic CA, are mounted read-only at /mosquitto/certs, the key
# readable by its owner on the host only. Mosquitto reads them as root when it starts, but again as the user it
# switched to at every SIGHUP; so this script gives it copies of its own, which mosquitto.conf names. New
# certificates there are taken at the broker's next start (`docker compose restart mosquitto`).
#
# The paths can be changed through the environment; the tests run this script with a Mosquitto of their own.
set -eu

config=${MOSQUITTO_CONFIG:-/mosquitto/config/mosquitto.conf}
password_file=${MOSQUITTO_PASSWORD_FILE:-/mosquitto/data/passwd}
devices_file=${GALVANI_DEVICE_USERS_FILE:-/mosquitto/users/devices.passwd}
certs_dir=${MOSQUITTO_CERTS_DIR:-/mosquitto/certs}
tls_dir=${MOSQUITTO_TLS_DIR:-/mosquitto/tls}
broker_user=${MOSQUITTO_USER:-mosquitto}  # the user the broker switches to, which must read the files
check_every_s=${CHECK_EVERY_S:-2}

mkdir -p "$tls_dir"
chmod 0700 "$tls_dir"
chown "$broker_user" "$tls_dir"
for file in ca.pem broker.pem broker-key.pem; do
    if [ ! -f "$certs_dir/$file" ]; then
        echo "run.sh: no $certs_dir/$file: make the certificates first (README: Production, Certificates)" >&2
        exit 1
    fi
    cp "$certs_dir/$file" "$tls_dir/$file.new"
    chmod 0600 "$tls_dir/$file.new"
    chown "$broker_user" "$tls_dir/$file.new"
    mv -f "$tls_dir/$file.new" "$tls_dir/$file"
done

gateway_users=${GALVANI_GATEWAY_USERS:?name each gateway MQTT user in GALVANI_GATEWAY_USERS}
own_users=$(mktemp)
trap 'rm -f "$own_users"' EXIT
for user in $gateway_users galvani-healthcheck; do
    mosquitto_passwd -b "$own_users" "$user" "$GALVANI_GATEWAY_MQTT_PASSWORD"
done

devices_version() {
    if [ -f "$devices_file" ]; then cksum < "$devices_file"; else echo none; fi
}

write_password_file() {
    {
        cat "$own_users"
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
