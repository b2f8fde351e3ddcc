// Command kstatus prints the verdict of sigs.k8s.io/cli-utils' kstatus (the library Flux and kpt compute
// health with) for Kubernetes objects read from stdin.
//
// Input: one object as JSON or YAML, or a JSON array of objects (many verdicts for one process start).
// Output: {"status": ..., "message": ...} for one object, an array of those for an array.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type verdict struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

func compute(object map[string]interface{}) (verdict, error) {
	result, err := status.Compute(&unstructured.Unstructured{Object: object})
	if err != nil {
		return verdict{}, err
	}
	return verdict{Status: string(result.Status), Message: result.Message}, nil
}

func run(input io.Reader, output io.Writer) error {
	data, err := io.ReadAll(input)
	if err != nil {
		return fmt.Errorf("reading the input: %w", err)
	}
	// JSON is YAML; the conversion keeps JSON input as it is.
	converted, err := yaml.ToJSON(data)
	if err != nil {
		return fmt.Errorf("parsing the input: %w", err)
	}
	// apimachinery's json keeps integers as int64, which is what kstatus reads generations as.
	var document interface{}
	if err := utiljson.Unmarshal(converted, &document); err != nil {
		return fmt.Errorf("parsing the input: %w", err)
	}
	var answer interface{}
	switch value := document.(type) {
	case map[string]interface{}:
		one, err := compute(value)
		if err != nil {
			return err
		}
		answer = one
	case []interface{}:
		many := make([]verdict, 0, len(value))
		for index, item := range value {
			object, ok := item.(map[string]interface{})
			if !ok {
				return fmt.Errorf("item %d is not an object", index)
			}
			one, err := compute(object)
			if err != nil {
				return fmt.Errorf("item %d: %w", index, err)
			}
			many = append(many, one)
		}
		answer = many
	default:
		return fmt.Errorf("expected an object or an array of objects, got %T", document)
	}
	return json.NewEncoder(output).Encode(answer)
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		os.Exit(1)
	}
}
