"""The device gateway: talks MQTT with the treatment-room devices and meets the API in the database."""
