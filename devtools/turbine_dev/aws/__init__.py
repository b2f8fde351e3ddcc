"""The embedded AWS: moto in server mode, with the models and behaviours moto lacks and the templates use."""
